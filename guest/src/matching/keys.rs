//! The keys a customer is recognised by, each in its canonical form: a
//! CPF or CNPJ with its check digits verified, a PPPoE login, an ONU
//! serial, a name.

use unicode_normalization::UnicodeNormalization;

/// A Brazilian taxpayer number, canonical (digits, or for the alphanumeric
/// CNPJ valid from July 2026, uppercase letters and digits), check digits
/// verified.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Document(String);

impl Document {
    /// A CPF (11 digits) or CNPJ (14 characters, the first 12 digits or
    /// uppercase letters), with or without punctuation; `None` unless its
    /// check digits are right.
    pub fn parse(text: &str) -> Option<Document> {
        let kept: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid = match kept.len() {
            11 => valid_cpf(&kept),
            14 => valid_cnpj(&kept),
            _ => false,
        };
        valid.then_some(Document(kept))
    }

    /// Every valid CPF or CNPJ written in a free text (a note, an
    /// observation), in the order they appear.
    pub fn find_in(text: &str) -> Vec<Document> {
        let mut found = Vec::new();
        for candidate in text.split(|c: char| !(c.is_ascii_alphanumeric() || ".-/".contains(c))) {
            if let Some(document) = Document::parse(candidate)
                && !found.contains(&document)
            {
                found.push(document);
            }
        }
        found
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_cpf(digits: &str) -> bool {
    let d: Vec<u32> = match digits.chars().map(|c| c.to_digit(10)).collect() {
        Some(d) => d,
        None => return false,
    };
    // 000.000.000-00, 111.111.111-11, ...: right check digits, not a CPF.
    if d.iter().all(|x| *x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n).map(|i| d[i] * (n as u32 + 1 - i as u32)).sum();
        let rest = (sum * 10) % 11;
        if rest == 10 { 0 } else { rest }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// CNPJ: each of the 12 base characters counts as its ASCII code minus 48
/// (so digits keep their value and letters count 17 to 42); the two check
/// digits are numeric, modulo 11 with weights 2..9 from the right.
fn valid_cnpj(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    if !chars[12..].iter().all(char::is_ascii_digit)
        || !chars[..12]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    let values: Vec<u32> = chars.iter().map(|c| *c as u32 - 48).collect();
    if values.iter().all(|v| *v == values[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = (0..n)
            .map(|i| values[i] * (2 + ((n - 1 - i) % 8) as u32))
            .sum();
        let rest = sum % 11;
        if rest < 2 { 0 } else { 11 - rest }
    };
    check(12) == values[12] && check(13) == values[13]
}

/// A PPPoE login, case and spaces ignored.
pub fn pppoe(login: &str) -> Option<String> {
    let key: String = login
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    (!key.is_empty()).then_some(key)
}

/// An ONU serial in one form: uppercase, separators dropped, and a vendor
/// prefix written in hex (`48575443…`) turned into its four letters
/// (`HWTC…`), as the two forms OLTs and platforms show are the same serial.
pub fn onu_serial(serial: &str) -> Option<String> {
    let key: String = serial
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if key.len() == 16 && key.chars().all(|c| c.is_ascii_hexdigit()) {
        let vendor: Option<String> = (0..4)
            .map(|i| {
                u8::from_str_radix(&key[i * 2..i * 2 + 2], 16)
                    .ok()
                    .filter(u8::is_ascii_uppercase)
                    .map(char::from)
            })
            .collect();
        if let Some(vendor) = vendor {
            return Some(format!("{vendor}{}", &key[8..]));
        }
    }
    (key.len() >= 8).then_some(key)
}

/// Particles Brazilian names carry that say nothing of who it is.
const PARTICLES: [&str; 6] = ["da", "de", "do", "das", "dos", "e"];

/// A name's words, accents folded, lowercase, particles dropped, sorted: so
/// "José da Silva Santos" and "SANTOS, Jose Silva" read the same.
pub fn name_tokens(name: &str) -> Vec<String> {
    let folded: String = name
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut tokens: Vec<String> = folded
        .split_whitespace()
        .filter(|t| !PARTICLES.contains(t))
        .map(str::to_string)
        .collect();
    tokens.sort();
    tokens
}

/// A name ready to compare: its words (see `name_tokens`) and those words
/// joined, computed once.
#[derive(Clone, Debug, Default)]
pub struct Name {
    pub words: Vec<String>,
    joined: String,
}

impl Name {
    pub fn new(text: &str) -> Name {
        let words = name_tokens(text);
        let joined = words.join(" ");
        Name { words, joined }
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// How alike two names are, from 0 to 1: the edit distance of their sorted
/// words, so order and accents do not count and a typo counts little.
pub fn name_similarity(a: &Name, b: &Name) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    strsim::normalized_levenshtein(&a.joined, &b.joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_check_digits() {
        // Valid numbers from the Receita's published examples and generators.
        for valid in [
            "529.982.247-25",
            "52998224725",
            "111.444.777-35",
            "390.533.447-05",
        ] {
            assert!(Document::parse(valid).is_some(), "{valid}");
        }
        for invalid in [
            "529.982.247-26",
            "111.111.111-11",
            "000.000.000-00",
            "1234567890",
            "5299822472A",
        ] {
            assert!(Document::parse(invalid).is_none(), "{invalid}");
        }
        assert_eq!(
            Document::parse("529.982.247-25"),
            Document::parse(" 52998224725 ")
        );
    }

    #[test]
    fn cnpj_check_digits_numeric_and_alphanumeric() {
        for valid in ["11.222.333/0001-81", "11222333000181", "04.252.011/0001-10"] {
            assert!(Document::parse(valid).is_some(), "{valid}");
        }
        // The Receita's example of the alphanumeric CNPJ (from July 2026).
        for valid in ["12.ABC.345/01DE-35", "12abc34501de35"] {
            assert!(Document::parse(valid).is_some(), "{valid}");
        }
        for invalid in [
            "11.222.333/0001-82",
            "12.ABC.345/01DE-36",
            "00.000.000/0000-00",
            "12.ABC.345/01DE-3A",
        ] {
            assert!(Document::parse(invalid).is_none(), "{invalid}");
        }
    }

    #[test]
    fn documents_are_found_in_free_text() {
        let found =
            Document::find_in("CPF 529.982.247-25; tel 48 99999-0000; CNPJ 11.222.333/0001-81");
        let found: Vec<&str> = found.iter().map(Document::as_str).collect();
        assert_eq!(found, ["52998224725", "11222333000181"]);
    }

    #[test]
    fn onu_serials_in_both_forms_are_one() {
        assert_eq!(onu_serial("48575443A1B2C3D4"), onu_serial("HWTCA1B2C3D4"));
        assert_eq!(
            onu_serial("hwtc-a1b2-c3d4").as_deref(),
            Some("HWTCA1B2C3D4")
        );
        assert_eq!(
            onu_serial("5A544547 00000001").as_deref(),
            Some("ZTEG00000001")
        );
        // Hex that is not a vendor's letters stays as it is.
        assert_eq!(
            onu_serial("00112233A1B2C3D4").as_deref(),
            Some("00112233A1B2C3D4")
        );
        assert_eq!(onu_serial("abc"), None);
    }

    #[test]
    fn pppoe_logins_ignore_case_and_spaces() {
        assert_eq!(pppoe(" Maria.Silva "), pppoe("maria.silva"));
        assert_eq!(pppoe("  "), None);
    }

    #[test]
    fn names_fold_accents_particles_and_order() {
        assert_eq!(
            name_tokens("José da Silva Santos"),
            name_tokens("SANTOS, Jose Silva")
        );
        let a = Name::new("Maria das Graças Oliveira");
        let b = Name::new("Maria Gracas Olivera");
        assert!(name_similarity(&a, &b) > 0.9);
        let c = Name::new("Mario Gracas Oliveira");
        assert!(name_similarity(&a, &c) > 0.85);
        let d = Name::new("Pedro Henrique Costa");
        assert!(name_similarity(&a, &d) < 0.5);
    }
}
