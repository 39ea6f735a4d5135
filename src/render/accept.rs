//! Reading an `Accept` header: the quality a client gives a media type.

/// The highest quality `accept` gives any of `types` (case-insensitive, parameters other than
/// `q` ignored); 0 when it names none of them. A `q` that does not parse counts as 0.
pub(crate) fn quality(accept: &str, types: &[&str]) -> f32 {
    let mut best = 0.0_f32;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        if !types.iter().any(|t| media.eq_ignore_ascii_case(t)) {
            continue;
        }
        let mut quality = 1.0_f32;
        for parameter in parts {
            if let Some((name, value)) = parameter.split_once('=')
                && name.trim().eq_ignore_ascii_case("q")
            {
                quality = value.trim().parse().unwrap_or(0.0);
            }
        }
        best = best.max(quality);
    }
    best.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::quality;

    #[test]
    fn the_best_quality_of_the_named_types() {
        let accept = "text/html;q=0.3, application/json;q=0.7;level=1, APPLICATION/JSON;q=0.9";
        assert_eq!(quality(accept, &["application/json"]), 0.9);
        assert_eq!(quality(accept, &["text/html", "*/*"]), 0.3);
        assert_eq!(quality(accept, &["image/png"]), 0.0);
        assert_eq!(quality("a/b;q=junk", &["a/b"]), 0.0);
        assert_eq!(quality("a/b;q=7", &["a/b"]), 1.0);
        assert_eq!(quality("", &["a/b"]), 0.0);
    }
}
