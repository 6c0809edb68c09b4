//! The `like` operator: OZmap hands the value to a case-insensitive regular
//! expression. This covers the simple expressions clients send (anchors, `.`,
//! `*`, `+`, `?`, classes, `\d\w\s`); anything richer is matched as a plain
//! case-insensitive substring, which is what most clients mean anyway.

#[derive(Clone, Debug)]
pub(crate) enum Atom {
    Char(char),
    Any,
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum ClassItem {
    Range(char, char),
    Digit,
    Word,
    Space,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Repeat {
    One,
    ZeroOrOne,
    ZeroOrMore,
    OneOrMore,
}

/// A compiled `like` value.
#[derive(Clone, Debug)]
pub(crate) enum Pattern {
    Substring(String),
    Regex {
        start: bool,
        end: bool,
        items: Vec<(Atom, Repeat)>,
    },
}

impl Pattern {
    pub(crate) fn new(source: &str) -> Pattern {
        parse(&source.to_lowercase()).unwrap_or_else(|| Pattern::Substring(source.to_lowercase()))
    }

    pub(crate) fn matches(&self, text: &str) -> bool {
        let text = text.to_lowercase();
        match self {
            Pattern::Substring(s) => text.contains(s.as_str()),
            Pattern::Regex { start, end, items } => {
                let chars: Vec<char> = text.chars().collect();
                if *start {
                    return match_here(items, &chars, *end);
                }
                (0..=chars.len()).any(|i| match_here(items, &chars[i..], *end))
            }
        }
    }
}

fn parse(src: &str) -> Option<Pattern> {
    let mut chars = src.chars().peekable();
    let start = chars.peek() == Some(&'^');
    if start {
        chars.next();
    }
    let mut items: Vec<(Atom, Repeat)> = Vec::new();
    let mut end = false;
    while let Some(c) = chars.next() {
        if end {
            return None; // `$` in the middle: not a simple expression
        }
        let atom = match c {
            '$' => {
                end = true;
                continue;
            }
            '.' => Atom::Any,
            '\\' => escape(chars.next()?),
            '[' => {
                let negated = chars.peek() == Some(&'^');
                if negated {
                    chars.next();
                }
                let mut set = Vec::new();
                loop {
                    let c = chars.next()?;
                    match c {
                        ']' => break,
                        '\\' => match escape(chars.next()?) {
                            Atom::Char(c) => set.push(ClassItem::Range(c, c)),
                            Atom::Class { items, .. } => set.extend(items),
                            Atom::Any => return None,
                        },
                        c if chars.peek() == Some(&'-') => {
                            chars.next();
                            match chars.next()? {
                                ']' => {
                                    set.push(ClassItem::Range(c, c));
                                    set.push(ClassItem::Range('-', '-'));
                                    break;
                                }
                                hi => set.push(ClassItem::Range(c, hi)),
                            }
                        }
                        c => set.push(ClassItem::Range(c, c)),
                    }
                }
                Atom::Class {
                    negated,
                    items: set,
                }
            }
            '*' | '+' | '?' | '(' | ')' | '|' | '{' | '}' => return None,
            c => Atom::Char(c),
        };
        let repeat = match chars.peek() {
            Some('*') => Repeat::ZeroOrMore,
            Some('+') => Repeat::OneOrMore,
            Some('?') => Repeat::ZeroOrOne,
            _ => Repeat::One,
        };
        if repeat != Repeat::One {
            chars.next();
        }
        items.push((atom, repeat));
    }
    Some(Pattern::Regex { start, end, items })
}

fn escape(c: char) -> Atom {
    let class = |item| Atom::Class {
        negated: false,
        items: vec![item],
    };
    match c {
        'd' => class(ClassItem::Digit),
        'w' => class(ClassItem::Word),
        's' => class(ClassItem::Space),
        c => Atom::Char(c),
    }
}

fn atom_matches(atom: &Atom, c: char) -> bool {
    match atom {
        Atom::Char(a) => *a == c,
        Atom::Any => c != '\n',
        Atom::Class { negated, items } => {
            let hit = items.iter().any(|i| match i {
                ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
                ClassItem::Digit => c.is_ascii_digit(),
                ClassItem::Word => c.is_alphanumeric() || c == '_',
                ClassItem::Space => c.is_whitespace(),
            });
            hit != *negated
        }
    }
}

/// Backtracking match of `items` at the start of `text`; patterns are short.
fn match_here(items: &[(Atom, Repeat)], text: &[char], end: bool) -> bool {
    let Some(((atom, repeat), rest)) = items.split_first() else {
        return !end || text.is_empty();
    };
    let (min, max) = match repeat {
        Repeat::One => (1, 1),
        Repeat::ZeroOrOne => (0, 1),
        Repeat::ZeroOrMore => (0, usize::MAX),
        Repeat::OneOrMore => (1, usize::MAX),
    };
    let mut n = 0;
    while n < max && n < text.len() && atom_matches(atom, text[n]) {
        n += 1;
    }
    if n < min {
        return false;
    }
    (min..=n).rev().any(|k| match_here(rest, &text[k..], end))
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn substring_is_case_insensitive() {
        assert!(Pattern::new("norte").matches("Centro NORTE"));
        assert!(!Pattern::new("sul").matches("Centro Norte"));
    }

    #[test]
    fn simple_regexes() {
        assert!(Pattern::new("^svc-0+12$").matches("SVC-00012"));
        assert!(!Pattern::new("^svc-0+12$").matches("SVC-000123"));
        assert!(Pattern::new("^CTO-\\d\\d").matches("cto-12 b"));
        assert!(Pattern::new("c.o").matches("xCTOx"));
        assert!(Pattern::new("[ab]x?z").matches("..bz"));
        assert!(Pattern::new("^$").matches(""));
    }

    #[test]
    fn unsupported_syntax_is_a_substring() {
        assert!(Pattern::new("(a|b)").matches("x(A|B)y"));
    }
}
