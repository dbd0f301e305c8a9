#!/usr/bin/env bash
# Lints the AWS SAM template (template.yaml, or the path given) offline:
#   1. cfn-lint TEMPLATE                  CloudFormation + SAM rules (it runs the SAM transform itself)
#   2. sam validate --lint                the SAM CLI's own check (it is cfn-lint through the SAM CLI)
#   3. sam validate                       the SAM translator alone (AWS::Serverless-* -> plain CloudFormation)
#
# No AWS account, credentials or network is needed (only for the one-time install): every AWS
# variable that could lead to a credential or an API call is removed for these commands, the
# region defaults to us-east-1, telemetry is off and HTTP(S) goes to a proxy that refuses it. `sam validate --lint` is cfn-lint only; plain `sam validate` runs the SAM
# translator locally and asks IAM only for a managed policy named without its ARN, which
# template.yaml never does (its roles are explicit), so it stays offline as well.
#
# cfn-lint and aws-sam-cli are installed from PyPI, when missing, into a virtualenv under
# ${XDG_CACHE_HOME:-$HOME/.cache}/hookline/venv (falling back to `pip install --user`, then
# `--break-system-packages`, where python3 has no venv module). Pin other versions with
# CFN_LINT_VERSION / SAM_CLI_VERSION; delete the venv to reinstall.
set -euo pipefail
cd "$(dirname "$0")/.."

template=${1:-template.yaml}
cfn_lint_version=${CFN_LINT_VERSION:-1.58.0}
sam_cli_version=${SAM_CLI_VERSION:-1.170.0}
venv="${XDG_CACHE_HOME:-$HOME/.cache}/hookline/venv"

# The tools: from the venv when it has them, else install them (once).
if [ -x "$venv/bin/cfn-lint" ] && [ -x "$venv/bin/sam" ]; then
  bin="$venv/bin/"
elif python3 -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; false; }; then
  echo "installing cfn-lint $cfn_lint_version and aws-sam-cli $sam_cli_version into $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "cfn-lint==$cfn_lint_version" "aws-sam-cli==$sam_cli_version"
  bin="$venv/bin/"
else
  # No venv module (Debian without python3-venv): a user install, on PATH via ~/.local/bin.
  export PATH="$HOME/.local/bin:$PATH"
  if ! command -v cfn-lint >/dev/null || ! command -v sam >/dev/null; then
    echo "installing cfn-lint $cfn_lint_version and aws-sam-cli $sam_cli_version (pip --user)"
    pkgs=("cfn-lint==$cfn_lint_version" "aws-sam-cli==$sam_cli_version")
    # Debian's own Python refuses user installs too unless told otherwise.
    python3 -m pip install --quiet --user "${pkgs[@]}" 2>/dev/null ||
      python3 -m pip install --quiet --user --break-system-packages "${pkgs[@]}"
  fi
  bin=""
fi

# Offline and without credentials: a clean AWS environment for the three commands, and a proxy
# that refuses every connection (the SAM CLI's weekly PyPI version check then fails at once).
offline=(
  env
  -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE
  -u AWS_ROLE_ARN -u AWS_WEB_IDENTITY_TOKEN_FILE -u AWS_CONTAINER_CREDENTIALS_FULL_URI
  -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
  http_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy=
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_EC2_METADATA_DISABLED=true
  AWS_REGION="${AWS_REGION:-us-east-1}"
  AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}"
  SAM_CLI_TELEMETRY=0
)

echo "== cfn-lint $template ($("${offline[@]}" "${bin}cfn-lint" --version))"
"${offline[@]}" "${bin}cfn-lint" "$template"
echo "cfn-lint: no findings"

echo "== sam validate --lint ($("${offline[@]}" "${bin}sam" --version))"
"${offline[@]}" "${bin}sam" validate --lint --template-file "$template"

echo "== sam validate"
"${offline[@]}" "${bin}sam" validate --template-file "$template"
