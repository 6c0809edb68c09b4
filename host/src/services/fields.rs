//! The fields of a service that have a shape to check: documents (CPF or
//! CNPJ), MAC addresses and coordinates. Each answers the normalised value
//! or a reason a person can act on, naming the value as it was given.

/// A CPF or CNPJ as its digits alone, once its check digits hold.
pub fn document(raw: &str) -> Result<String, String> {
    // Echoed short: a value may be as long as the file.
    let shown = crate::text::echo(raw);
    // People write CPFs as 123.456.789-09 and CNPJs as 12.345.678/0001-95.
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '/') && !c.is_whitespace())
        .collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "document {shown} holds characters other than digits and . - /"
        ));
    }
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let (kind, valid) = match d.len() {
        11 => ("CPF", cpf_check_digits_hold(&d)),
        14 => ("CNPJ", cnpj_check_digits_hold(&d)),
        n => {
            // A spreadsheet that took the document for a number drops its
            // leading zeros.
            let hint = if n == 10 || n == 13 {
                " (a leading zero lost by a spreadsheet? keep the column as text)"
            } else {
                ""
            };
            return Err(format!(
                "document {shown} has {n} digits; a CPF has 11, a CNPJ 14{hint}"
            ));
        }
    };
    // Repeated digits pass the check-digit arithmetic but are never issued.
    if !valid || d.iter().all(|x| *x == d[0]) {
        return Err(format!(
            "document {shown} is not a valid {kind} (its check digits do not match)"
        ));
    }
    Ok(digits)
}

/// The Receita Federal's modulo-11 check digit over `digits` with `weights`.
fn check_digit(digits: &[u32], weights: &[u32]) -> u32 {
    let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

fn cpf_check_digits_hold(d: &[u32]) -> bool {
    let first = check_digit(&d[..9], &[10, 9, 8, 7, 6, 5, 4, 3, 2]);
    let second = check_digit(&d[..10], &[11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    d[9] == first && d[10] == second
}

fn cnpj_check_digits_hold(d: &[u32]) -> bool {
    let first = check_digit(&d[..12], &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    let second = check_digit(&d[..13], &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]);
    d[12] == first && d[13] == second
}

/// A MAC address as `AA:BB:CC:DD:EE:FF`, whichever way the ERP wrote it.
pub fn mac(raw: &str) -> Result<String, String> {
    // Echoed short: a value may be as long as the file.
    let shown = crate::text::echo(raw);
    let hex: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "onu_mac {shown} is not a MAC address (12 hex digits, e.g. AA:BB:CC:DD:EE:FF)"
        ));
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..12).step_by(2).map(|i| &upper[i..i + 2]).collect();
    Ok(pairs.join(":"))
}

/// A latitude (`limit` 90) or longitude (`limit` 180) in decimal degrees.
pub fn coordinate(field: &str, raw: &str, limit: f64) -> Result<f64, String> {
    // Echoed short: a value may be as long as the file.
    let shown = crate::text::echo(raw);
    let text = raw.trim();
    // Brazilian spreadsheets write `-27,59`; a text with a point already uses
    // the point as decimal separator, so a comma there is not one.
    let text = if text.contains('.') {
        text.to_string()
    } else {
        text.replacen(',', ".", 1)
    };
    let value: f64 = text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| format!("{field} {shown} is not a number"))?;
    if !(-limit..=limit).contains(&value) {
        return Err(format!(
            "{field} {shown} is out of range (-{limit} to {limit})"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_and_cnpj_check_digits() {
        assert_eq!(document("529.982.247-25").unwrap(), "52998224725");
        assert_eq!(document(" 52998224725 ").unwrap(), "52998224725");
        // A leading zero that must be kept.
        assert_eq!(document("012.345.678-90").unwrap(), "01234567890");
        assert_eq!(document("11.222.333/0001-81").unwrap(), "11222333000181");
        assert_eq!(document("11444777000161").unwrap(), "11444777000161");

        for bad in ["529.982.247-24", "529.982.247-52", "111.111.111-11"] {
            let err = document(bad).unwrap_err();
            assert!(err.contains("not a valid CPF"), "{bad}: {err}");
        }
        for bad in ["11.222.333/0001-80", "00.000.000/0000-00"] {
            let err = document(bad).unwrap_err();
            assert!(err.contains("not a valid CNPJ"), "{bad}: {err}");
        }
        assert!(document("1234567890").unwrap_err().contains("leading zero"));
        assert!(document("123").unwrap_err().contains("has 3 digits"));
        assert!(
            document("529.982.247-2X")
                .unwrap_err()
                .contains("characters other than digits")
        );
    }

    #[test]
    fn macs_are_normalised_to_upper_case_with_colons() {
        for given in [
            "aa:bb:cc:dd:ee:0f",
            "AA-BB-CC-DD-EE-0F",
            "aabb.ccdd.ee0f",
            "AABBCCDDEE0F",
            " aabbccddee0f ",
        ] {
            assert_eq!(mac(given).unwrap(), "AA:BB:CC:DD:EE:0F", "{given}");
        }
        for bad in [
            "AA:BB:CC:DD:EE",
            "GG:BB:CC:DD:EE:FF",
            "AA:BB:CC:DD:EE:FF:00",
        ] {
            assert!(mac(bad).unwrap_err().contains("not a MAC address"), "{bad}");
        }
    }

    #[test]
    fn coordinates_accept_a_decimal_comma_and_stay_in_range() {
        assert_eq!(coordinate("lat", "-27,59", 90.0).unwrap(), -27.59);
        assert_eq!(coordinate("lat", " -27.59 ", 90.0).unwrap(), -27.59);
        assert_eq!(coordinate("lng", "-48,5", 180.0).unwrap(), -48.5);
        assert_eq!(coordinate("lng", "-48", 180.0).unwrap(), -48.0);
        assert!(coordinate("lat", "1,234.5", 90.0).is_err());
        assert!(coordinate("lat", "-27,5,9", 90.0).is_err());
        assert!(coordinate("lat", "NaN", 90.0).is_err());
        assert!(coordinate("lat", "norte", 90.0).is_err());
        let err = coordinate("lat", "-95", 90.0).unwrap_err();
        assert!(err.contains("out of range"), "{err}");
        assert!(coordinate("lng", "-180", 180.0).is_ok());
        assert!(coordinate("lng", "180,01", 180.0).is_err());
    }
}
