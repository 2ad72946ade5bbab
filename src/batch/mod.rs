//! The file door: organizations deliver HL7 batch files by SFTP into `HL7-Dropoff`; the registry
//! moves each complete upload to `Accepted`, runs every message through the same registry path
//! as a SOAP submission, and answers in `DQA-Reports` (acknowledgement files, error reports).

pub mod ackfile;
pub mod names;
pub mod reader;
pub mod sftp;
