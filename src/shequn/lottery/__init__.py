"""Lotteries: provably fair draws, who may enter them, and "Nth like wins"."""
