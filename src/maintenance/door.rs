//! The maintenance verdict for the doors that are not HTTP requests. The SOAP door renders a 503
//! or 502; the file door asks here whether it may process an organization's files now, and
//! whether SFTP logins are refused (an outage: partners "could not upload data during the
//! downtime").

use super::{Maintenance, Mode};

/// What the file door may do for one organization now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDoor {
    /// Uploads and processing as usual.
    Open,
    /// A maintenance or intermittent window (for everyone or this organization): uploads are
    /// taken, processing waits and resumes by itself when the window ends.
    Hold,
    /// An outage window: SFTP logins are refused and nothing is processed.
    Refuse,
}

impl Maintenance {
    /// The verdict for `organization` (its code) at this node's clock.
    pub fn file_door(&self, organization: &str) -> FileDoor {
        let snapshot = self.snapshot();
        match snapshot.active(self.now(), Some(organization)) {
            None => FileDoor::Open,
            Some(w) if w.mode == Mode::Outage => FileDoor::Refuse,
            Some(_) => FileDoor::Hold,
        }
    }
}
