"""Pure domain: no Textual, no cloud SDK. Everything here is fast to import and to test."""
