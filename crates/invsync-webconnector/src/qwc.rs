//! The `.qwc` file the operator loads into the Web Connector (`QBWCXML`): where to call
//! (AppURL), the support page (AppSupport), the user, the application's stable OwnerID and
//! FileID (kept in the database, so a regenerated file is the same application), the
//! QuickBooks type and how often to run.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Everything a `.qwc` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qwc {
    pub app_name: String,
    pub app_url: String,
    pub app_support: String,
    pub username: String,
    pub owner_id: String,
    pub file_id: String,
    /// `QBFS` or `QBPOS`.
    pub qb_type: &'static str,
    /// `Scheduler/RunEveryNMinutes`; `None` leaves scheduling to the operator.
    pub run_every_minutes: Option<u64>,
}

impl Qwc {
    /// The file's text (UTF-8 XML; every value escaped).
    pub fn render(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let written = (|| -> std::io::Result<()> {
            w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))?;
            w.write_event(Event::Start(BytesStart::new("QBWCXML")))?;
            let mut element = |name: &str, value: &str| -> std::io::Result<()> {
                w.create_element(name)
                    .write_text_content(BytesText::new(value))
                    .map(|_| ())
            };
            element("AppName", &self.app_name)?;
            element("AppID", "")?;
            element("AppURL", &self.app_url)?;
            element(
                "AppDescription",
                "invsync: keeps prices and stock in sync between QuickBooks and online stores",
            )?;
            element("AppSupport", &self.app_support)?;
            element("UserName", &self.username)?;
            element("OwnerID", &self.owner_id)?;
            element("FileID", &self.file_id)?;
            element("QBType", self.qb_type)?;
            if let Some(minutes) = self.run_every_minutes {
                w.write_event(Event::Start(BytesStart::new("Scheduler")))?;
                w.create_element("RunEveryNMinutes")
                    .write_text_content(BytesText::new(&minutes.to_string()))?;
                w.write_event(Event::End(BytesEnd::new("Scheduler")))?;
            }
            w.create_element("IsReadOnly")
                .write_text_content(BytesText::new("false"))?;
            w.write_event(Event::End(BytesEnd::new("QBWCXML")))
        })();
        // Writing into a Vec cannot fail.
        debug_assert!(written.is_ok());
        let mut text = String::from_utf8(w.into_inner()).unwrap_or_default();
        text.push('\n');
        text
    }
}
