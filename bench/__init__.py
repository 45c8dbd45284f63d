"""Benchmarks: each module measures one goal beside its baseline and writes its BENCHMARKS.md section."""
