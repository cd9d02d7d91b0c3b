//! Any text through the KFL lexer, parser and checker: no input may panic. Errors and warnings
//! are rendered (caret placement on arbitrary spans and multi-byte text), and the SQL rendering
//! of every accepted query must parse again as a SQL expression.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

const NOW_MS: i64 = 1_634_668_150_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match faultline_kfl::check_at(text, NOW_MS) {
        Err(e) => {
            let rendered = e.render(text);
            assert!(rendered.starts_with("error: "));
        }
        Ok(query) => {
            for w in &query.warnings {
                assert!(w.render(text).starts_with("warning: "));
            }
            let sql = query.to_sql();
            let reparsed = Parser::new(&GenericDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_expr());
            assert!(
                reparsed.is_ok(),
                "rendered SQL does not parse: {sql} ({reparsed:?}) from {text:?}"
            );
        }
    }
});
