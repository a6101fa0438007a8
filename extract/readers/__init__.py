"""Byte readers shared by the extractors: each turns a file's bytes into what a platform parses."""
