"""One typed adapter per remote system: the only code that speaks their protocols."""
