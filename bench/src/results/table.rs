//! Tables of text cells, rendered for a terminal or as GitHub markdown: the
//! one table renderer behind the bench's summary and `report`.

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// Headers, alignments and cells; every row has one cell per header.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// One alignment per column.
    pub aligns: Vec<Align>,
    /// The rows' cells.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table of numbers: every column right-aligned but those in `left` (names, verdicts).
    pub fn right_aligned_except(headers: &[&str], left: &[usize], rows: Vec<Vec<String>>) -> Self {
        let aligns = (0..headers.len())
            .map(|i| {
                if left.contains(&i) {
                    Align::Left
                } else {
                    Align::Right
                }
            })
            .collect();
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            aligns,
            rows,
        }
    }

    /// Aligned plain text: two spaces between columns, no trailing spaces,
    /// one line per row after the header.
    pub fn to_text(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
                match self.aligns.get(i).copied().unwrap_or(Align::Left) {
                    Align::Left => line.extend([cell.as_str(), &pad]),
                    Align::Right => line.extend([&pad, cell.as_str()]),
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A GitHub-flavoured markdown table; cells are escaped so none breaks
    /// the table.
    pub fn to_markdown(&self) -> String {
        let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
        let escaped = |row: &[String]| row.iter().map(|c| escape(c)).collect();
        let mut out = line(escaped(&self.headers));
        out.push_str(&line(
            self.aligns
                .iter()
                .map(|a| match a {
                    Align::Left => ":---".to_string(),
                    Align::Right => "---:".to_string(),
                })
                .collect(),
        ));
        for row in &self.rows {
            out.push_str(&line(escaped(row)));
        }
        out
    }
}

/// Escapes what would break a markdown table cell: pipes, backslashes,
/// newlines.
fn escape(cell: &str) -> String {
    cell.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            headers: vec!["name".into(), "ms".into()],
            aligns: vec![Align::Left, Align::Right],
            rows: vec![
                vec!["up".into(), "12.5".into()],
                vec!["a|b\\c\nd".into(), "3".into()],
            ],
        }
    }

    #[test]
    fn text_aligns_left_and_right_without_trailing_spaces() {
        let mut t = table();
        t.rows[1][0] = "kill_leader".into();
        assert_eq!(
            t.to_text(),
            "name           ms\nup           12.5\nkill_leader     3\n"
        );
        t.aligns = vec![Align::Right, Align::Left];
        t.rows[0][1] = String::new();
        assert_eq!(
            t.to_text(),
            "       name  ms\n         up\nkill_leader  3\n"
        );
    }

    #[test]
    fn markdown_escapes_pipes_backslashes_and_newlines() {
        assert_eq!(
            table().to_markdown(),
            "| name | ms |\n| :--- | ---: |\n| up | 12.5 |\n| a\\|b\\\\c d | 3 |\n"
        );
    }

    #[test]
    fn a_numbers_table_aligns_right_but_the_named_columns() {
        let t = Table::right_aligned_except(&["cell", "ms", "verdict"], &[0, 2], vec![]);
        assert_eq!(t.aligns, [Align::Left, Align::Right, Align::Left]);
        assert_eq!(t.headers, ["cell", "ms", "verdict"]);
    }
}
