"""HUME (Gadetsky & Brbic, NeurIPS 2023) as an importable library: no Snakemake imports here."""
