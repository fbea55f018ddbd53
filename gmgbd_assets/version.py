"""The project's version, in a module of its own so that the User-Agent can name it without importing the package's
Definitions."""

__version__ = "0.1.0"
