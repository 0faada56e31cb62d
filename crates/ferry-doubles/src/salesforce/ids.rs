//! Salesforce record ids for store records: the object's 3-character key prefix, a pod
//! marker and the store id (15 characters, case-sensitive), plus the documented 3-character
//! case-safe suffix (18 characters). Both lengths are accepted on input.

use super::schema::{self, SObject};

/// The 18-character id of store record `id` of `object`.
pub fn sf_id(object: &SObject, id: u64) -> String {
    let base = format!("{}5g{:010}", object.prefix, id);
    let suffix = checksum(&base);
    base + &suffix
}

/// The object and store id of a 15- or 18-character id, if it is one of this double's.
pub fn parse(id: &str) -> Option<(&'static SObject, u64)> {
    if !(id.len() == 15 || id.len() == 18) || !id.is_ascii() {
        return None;
    }
    if id.len() == 18 && !checksum(&id[..15]).eq_ignore_ascii_case(&id[15..]) {
        return None;
    }
    let object = schema::by_prefix(&id[..3])?;
    if &id[3..5] != "5g" {
        return None;
    }
    let n = id[5..15].parse().ok()?;
    Some((object, n))
}

/// The case-safe suffix: per 5-character chunk, a bit per upper-case letter, as a letter of
/// `A..Z0..5`.
fn checksum(base: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    base.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0, |acc, (i, _)| acc | (1 << i));
            char::from(ALPHABET[bits])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_carry_the_case_safe_suffix() {
        let account = schema::sobject("Account").unwrap();
        let id = sf_id(account, 42);
        assert_eq!(id, "0015g0000000042AAA");
        assert_eq!(parse(&id).map(|(o, n)| (o.name, n)), Some(("Account", 42)));
        assert_eq!(parse(&id[..15]).map(|(_, n)| n), Some(42));
        assert!(parse("0015g0000000042AAB").is_none());
        assert!(parse("001").is_none());
        // The documented example: 001A0000006Vm9r → 001A0000006Vm9rIAC.
        assert_eq!(checksum("001A0000006Vm9r"), "IAC");
    }
}
