/// Reads a duration as `90s`, `15m`, `6h`, `2d`, `1w`, a plain number of seconds, or an
/// ISO-8601 duration such as `PT6H` / `P1DT12H`. Returns seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(seconds);
    }
    if let Some(iso) = trimmed.strip_prefix('P').or_else(|| trimmed.strip_prefix('p')) {
        return parse_iso(iso).ok_or_else(|| format!("`{text}` is not an ISO-8601 duration like PT6H"));
    }
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 6h"))?;
    let unit_seconds = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return Err(format!("`{text}`: unknown unit `{unit}` (use s, m, h, d or w)")),
    };
    number.checked_mul(unit_seconds).ok_or_else(|| format!("`{text}` is too long"))
}

fn parse_iso(rest: &str) -> Option<u64> {
    let mut seconds = 0u64;
    let mut in_time = false;
    let mut number = String::new();
    for c in rest.chars() {
        match c {
            'T' | 't' => in_time = true,
            '0'..='9' => number.push(c),
            unit => {
                let value: u64 = number.parse().ok()?;
                number.clear();
                let factor = match (in_time, unit.to_ascii_uppercase()) {
                    (false, 'W') => 604_800,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                seconds = seconds.checked_add(value.checked_mul(factor)?)?;
            }
        }
    }
    number.is_empty().then_some(seconds)
}
