//! What every AWS SDK call shares: one readable line for a failure.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// One readable line for a failed call to `service` (e.g. `S3`, `SQS`): what failed and its
/// root cause, instead of the SDK's nested dump. (Every SDK crate re-exports these types.)
pub fn sdk_reason<E, R>(service: &str, e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match e {
        SdkError::DispatchFailure(_) => format!("cannot reach {service} ({})", root_cause(e)),
        SdkError::TimeoutError(_) => format!("{service} did not answer in time"),
        SdkError::ServiceError(failed) => {
            let meta = failed.err().meta();
            let code = meta.code().unwrap_or("an error");
            match meta.message() {
                Some(message) => format!("{service} answered {code}: {message}"),
                None => format!("{service} answered {code}"),
            }
        }
        _ => format!("the {service} request failed ({})", root_cause(e)),
    }
}

/// The innermost error of a chain, e.g. `Connection refused (os error 111)`.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}
