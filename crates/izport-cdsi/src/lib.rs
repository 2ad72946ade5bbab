//! CDC CDSi (Clinical Decision Support for Immunization): evaluation of a vaccination history and
//! a forecast of what is due, driven by CDC's supporting data. Pure: no I/O, no clock.
