//! Small SVG line charts: drawn on the server, no script, readable without colour.

use maud::{Markup, html};

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 70.0;

/// A chart of `points` (`(at_ms, value)`, oldest first) titled `title`, its latest value and
/// its peak written beside it in `unit`.
pub fn line(title: &str, unit: &str, points: &[(u64, f64)]) -> Markup {
    let latest = points.last().map_or(0.0, |p| p.1);
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    html! {
        figure.chart {
            figcaption {
                strong { (title) } " "
                span { (number(latest)) " " (unit) }
                small { " · peak " (number(peak)) }
            }
            @if points.len() < 2 {
                p.muted { "collecting samples…" }
            } @else {
                svg width=(WIDTH) height=(HEIGHT) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) }
                    role="img" aria-label={ (title) ", latest " (number(latest)) " " (unit) } {
                    // SVG elements need closing tags: in HTML, `<rect>` alone would hold the
                    // polyline.
                    rect x="0" y="0" width=(WIDTH) height=(HEIGHT) fill="#f9fafb" stroke="#dde1e7" {}
                    polyline fill="none" stroke="#2a62c9" stroke-width="1.5"
                        points=(polyline(points, peak)) {}
                }
            }
        }
    }
}

/// The SVG `points` of `points` scaled into the chart, time along x, 0..`peak` up y.
fn polyline(points: &[(u64, f64)], peak: f64) -> String {
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    let span = last.saturating_sub(first).max(1) as f64;
    let top = if peak > 0.0 { peak } else { 1.0 };
    points
        .iter()
        .map(|&(at, value)| {
            let x = (at - first) as f64 / span * WIDTH;
            let y = HEIGHT - 2.0 - value / top * (HEIGHT - 4.0);
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `value` with one decimal below 10, whole above.
fn number(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_span_the_chart_and_the_peak_touches_the_top() {
        let drawn = polyline(&[(1_000, 0.0), (2_000, 5.0), (3_000, 10.0)], 10.0);
        assert_eq!(drawn, "0.0,68.0 160.0,35.0 320.0,2.0");
    }
}
