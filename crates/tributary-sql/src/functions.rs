//! What a function name says about its arguments: aggregates, masking functions and the
//! conditional functions whose arguments are partly conditions. Names are compared lower-case
//! and without their schema (`public.md5` is `md5`).

/// Aggregate functions across the dialects this crate maps (without `OVER` they collapse
/// rows; with it they still aggregate a window of rows).
pub(crate) fn is_aggregate(name: &str) -> bool {
    const AGGREGATES: &[&str] = &[
        "any_value",
        "arbitrary",
        "arg_max",
        "arg_min",
        "argmax",
        "argmin",
        "array_agg",
        "array_concat_agg",
        "avg",
        "bit_and",
        "bit_or",
        "bit_xor",
        "bitand_agg",
        "bitor_agg",
        "bitxor_agg",
        "bool_and",
        "bool_or",
        "booland_agg",
        "boolor_agg",
        "checksum_agg",
        "collect_list",
        "collect_set",
        "corr",
        "count",
        "count_big",
        "count_if",
        "countif",
        "covar_pop",
        "covar_samp",
        "every",
        "first",
        "group_concat",
        "grouparray",
        "hash_agg",
        "json_agg",
        "json_arrayagg",
        "json_object_agg",
        "json_objectagg",
        "jsonb_agg",
        "jsonb_object_agg",
        "kurtosis",
        "last",
        "listagg",
        "logical_and",
        "logical_or",
        "max",
        "max_by",
        "mean",
        "median",
        "min",
        "min_by",
        "mode",
        "object_agg",
        "percentile",
        "percentile_cont",
        "percentile_disc",
        "product",
        "skewness",
        "stddev",
        "stddev_pop",
        "stddev_samp",
        "string_agg",
        "sum",
        "uniq",
        "uniqexact",
        "var_pop",
        "var_samp",
        "variance",
        "variance_pop",
        "variance_samp",
        "xmlagg",
    ];
    AGGREGATES.contains(&name) || name.starts_with("approx_") || name.starts_with("regr_") || name.starts_with("hll")
}

/// Ordered-set aggregates: the value comes from their `WITHIN GROUP (ORDER BY x)` column.
pub(crate) fn aggregates_within_group(name: &str) -> bool {
    matches!(name, "percentile_cont" | "percentile_disc" | "mode" | "percentile" | "median")
}

/// Functions whose result does not reveal their input: hashes, masks, encryption, and the
/// counting aggregates (the OpenLineage facet's examples: `hash` for TRANSFORMATION, `count`
/// for AGGREGATION).
pub(crate) fn is_masking(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "md5",
        "hash",
        "mask",
        "xxhash",
        "murmur",
        "farm_fingerprint",
        "crc32",
        "digest",
        "hmac",
        "encrypt",
        "aes_encrypt",
        "pgp_sym_encrypt",
        "pgp_pub_encrypt",
        "redact",
        "anonymi",
        "tokenize",
    ];
    const COUNTS: &[&str] =
        &["count", "count_big", "count_if", "countif", "approx_count_distinct", "approx_distinct", "uniq", "uniqexact"];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || is_sha(name) || COUNTS.contains(&name)
}

/// `sha`, `sha1`, `sha2`, `sha256`, `sha3_512`, `sha1_hex`, `sha2_binary`, … but not `shape`.
fn is_sha(name: &str) -> bool {
    name.strip_prefix("sha")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit() || c == '_'))
}

/// Which arguments of a conditional function are conditions (INDIRECT CONDITIONAL) rather
/// than values: `if(cond, a, b)`, `iif`, `nvl2(x, a, b)` test their first argument;
/// `nullif(a, b)` its second; `decode(x, search1, result1, …, default)` its first and every
/// search value. `None` for other functions: all arguments are values.
pub(crate) fn condition_arguments(name: &str) -> Option<fn(usize, usize) -> bool> {
    match name {
        "if" | "iif" | "nvl2" => Some(|index, _| index == 0),
        "nullif" => Some(|index, _| index == 1),
        // decode(x, s1, r1, s2, r2, …, [default]): x and each s are conditions.
        "decode" => Some(|index, count| index == 0 || (index % 2 == 1 && index + 1 < count)),
        _ => None,
    }
}

/// Functions taking a date or time part as a bare word (`dateadd(day, 1, x)`,
/// `datediff(month, a, b)`, BigQuery's `date_trunc(x, month)`): that word is not a column.
pub(crate) fn takes_date_part(name: &str) -> bool {
    const FUNCTIONS: &[&str] = &[
        "date_add",
        "date_diff",
        "date_part",
        "date_sub",
        "date_trunc",
        "dateadd",
        "datediff",
        "datediff_big",
        "datename",
        "datepart",
        "datetime_add",
        "datetime_diff",
        "datetime_sub",
        "datetime_trunc",
        "datetrunc",
        "last_day",
        "time_add",
        "time_diff",
        "time_slice",
        "time_sub",
        "time_trunc",
        "timestamp_add",
        "timestamp_diff",
        "timestamp_sub",
        "timestamp_trunc",
        "timestampadd",
        "timestampdiff",
        "trunc",
    ];
    FUNCTIONS.contains(&name)
}

/// The date and time part words those functions take (lower-case).
pub(crate) fn is_date_part(word: &str) -> bool {
    const PARTS: &[&str] = &[
        "year",
        "years",
        "yy",
        "yyyy",
        "y",
        "yr",
        "yrs",
        "isoyear",
        "quarter",
        "quarters",
        "qq",
        "q",
        "qtr",
        "month",
        "months",
        "mm",
        "mon",
        "mons",
        "week",
        "weeks",
        "wk",
        "ww",
        "w",
        "isoweek",
        "week_iso",
        "weekiso",
        "day",
        "days",
        "dd",
        "d",
        "dy",
        "dayofweek",
        "dayofweekiso",
        "dayofyear",
        "dow",
        "doy",
        "weekday",
        "hour",
        "hours",
        "hh",
        "h",
        "hr",
        "hrs",
        "minute",
        "minutes",
        "mi",
        "n",
        "min",
        "mins",
        "second",
        "seconds",
        "ss",
        "s",
        "sec",
        "secs",
        "millisecond",
        "milliseconds",
        "ms",
        "msec",
        "microsecond",
        "microseconds",
        "mcs",
        "us",
        "usec",
        "nanosecond",
        "nanoseconds",
        "ns",
        "nsec",
        "epoch",
        "epoch_second",
        "epoch_millisecond",
        "date",
        "datetime",
        "time",
    ];
    PARTS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(is_aggregate("sum") && is_aggregate("approx_count_distinct") && !is_aggregate("coalesce"));
        assert!(is_masking("md5") && is_masking("sha2") && is_masking("sha256") && is_masking("sha"));
        assert!(is_masking("mask_email") && is_masking("hash") && is_masking("count"));
        assert!(!is_masking("shape") && !is_masking("sum") && !is_masking("upper"));
        let decode = condition_arguments("decode").unwrap();
        let conditions: Vec<usize> = (0..6).filter(|&i| decode(i, 6)).collect();
        assert_eq!(conditions, [0, 1, 3]);
        let decode_without_default: Vec<usize> = (0..5).filter(|&i| decode(i, 5)).collect();
        assert_eq!(decode_without_default, [0, 1, 3]);
    }
}
