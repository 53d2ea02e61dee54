//! The one shape every report takes: a table with a header row, shown as
//! HTML and exported as CSV from the same cells.

use maud::{Markup, html};

/// A table of a page, exportable as CSV by its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Its id on the page, as `?csv=` names it.
    pub id: &'static str,
    /// Its title.
    pub caption: String,
    /// Column names.
    pub head: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<Cell>>,
}

/// One cell: its text, and where it links to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    /// What it says (also in the CSV).
    pub text: String,
    /// A page it links to.
    pub href: Option<String>,
    /// A CSS class: how it looks (a grid's states, a warning).
    pub class: Option<&'static str>,
}

impl Cell {
    /// A plain cell.
    pub fn text(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), ..Cell::default() }
    }

    /// A cell that links to a page.
    pub fn link(text: impl Into<String>, href: impl Into<String>) -> Cell {
        Cell { text: text.into(), href: Some(href.into()), class: None }
    }

    /// A cell with a look of its own.
    pub fn styled(text: impl Into<String>, class: &'static str) -> Cell {
        Cell { text: text.into(), href: None, class: Some(class) }
    }
}

impl Table {
    /// The table as HTML, with a link to its CSV (`path` is the page's own).
    pub fn html(&self, path: &str, csv_label: &str, empty: &str) -> Markup {
        html! {
            section id=(self.id) {
                h2 { (self.caption) " " a.csv href={ (path) "?csv=" (self.id) } download { (csv_label) } }
                @if self.rows.is_empty() {
                    p.empty { (empty) }
                } @else {
                    div.scroll { table {
                        thead { tr { @for h in &self.head { th scope="col" { (h) } } } }
                        tbody { @for row in &self.rows { tr {
                            @for (i, c) in row.iter().enumerate() {
                                @let inner = html! { @match &c.href { Some(href) => a href=(href) { (c.text) }, None => (c.text) } };
                                @if i == 0 { th scope="row" class=[c.class] { (inner) } } @else { td class=[c.class] { (inner) } }
                            }
                        } } }
                    } }
                }
            }
        }
    }
}
