//! The bounded label dimensions: methods and status classes.

use http::{Method, StatusCode};

/// Methods with a label of their own; all others share `OTHER`.
pub(crate) const METHOD_NAMES: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER",
];
pub(crate) const METHODS: usize = METHOD_NAMES.len();
pub(crate) const OTHER_METHOD: u8 = 7;

/// Status classes, plus requests that ended in a service error or were cancelled.
pub(crate) const CLASS_NAMES: [&str; 7] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error", "cancelled"];
pub(crate) const CLASSES: usize = CLASS_NAMES.len();
pub(crate) const ERROR_CLASS: u8 = 5;
pub(crate) const CANCELLED_CLASS: u8 = 6;

pub(crate) fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::PATCH => 5,
        Method::OPTIONS => 6,
        _ => OTHER_METHOD,
    }
}

/// `1xx`…`5xx`; the non-standard 600–999 count as `5xx`.
#[inline]
pub(crate) fn status_class(status: StatusCode) -> u8 {
    (status.as_u16() / 100).clamp(1, 5) as u8 - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_methods_map_to_their_names() {
        let class = |code| CLASS_NAMES[status_class(StatusCode::from_u16(code).unwrap()) as usize];
        assert_eq!(
            [class(101), class(204), class(308), class(404), class(503)],
            ["1xx", "2xx", "3xx", "4xx", "5xx"]
        );
        assert_eq!(class(999), "5xx");
        assert_eq!(METHOD_NAMES[method_index(&Method::PATCH) as usize], "PATCH");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(METHOD_NAMES[method_index(&custom) as usize], "OTHER");
    }
}
