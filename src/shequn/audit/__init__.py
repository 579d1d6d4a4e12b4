"""Audit: scoring member profiles for marketing, ad and fake accounts (审核)."""
