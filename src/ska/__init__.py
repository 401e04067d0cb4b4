"""SSH Key Authority: decides who may log in where over SSH, and makes it so."""

__version__ = "0.1.0"
