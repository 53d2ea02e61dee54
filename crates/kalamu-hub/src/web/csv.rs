//! Tables as CSV for spreadsheets: UTF-8 with a byte-order mark (so
//! spreadsheet programs read accents right), a header row, every cell
//! quoted, and cells that a spreadsheet would run as a formula defused.

use super::table::Table;

/// The table as CSV text.
pub fn write(table: &Table) -> String {
    let mut out = String::from("\u{feff}");
    line(&mut out, table.head.iter().map(String::as_str));
    for row in &table.rows {
        line(&mut out, row.iter().map(|c| c.text.as_str()));
    }
    out
}

fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    let cells: Vec<String> = cells.map(cell).collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

/// One cell, quoted; one that starts like a formula gets a leading
/// apostrophe, which spreadsheets show as text and never evaluate.
fn cell(text: &str) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r', '|', '%']) && text.parse::<f64>().is_err();
    let text = if risky { format!("'{text}") } else { text.to_owned() };
    format!("\"{}\"", text.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused_and_quotes_doubled() {
        assert_eq!(cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("-3"), "\"-3\"");
        assert_eq!(cell("Aïssatou, \"Ami\""), "\"Aïssatou, \"\"Ami\"\"\"");
    }
}
