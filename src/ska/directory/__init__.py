"""Users, groups, memberships; local and LDAP authentication."""
