"""Reports of finished runs, from their workdir files only: ``report`` (report.md and
figures), ``compare`` (several runs in one table), ``recompute`` (figures from the npz)."""
