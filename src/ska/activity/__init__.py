"""Events, the syslog mirror and e-mail notifications."""
