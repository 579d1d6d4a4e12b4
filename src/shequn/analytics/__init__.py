"""Figures operators read: per group and local day, the funnel, and channels by retention."""
