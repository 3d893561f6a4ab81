"""``python -m training.data.synth --derive-stats``: rewrite ``mtat_top10_stats.json`` from the TSV."""

from training.data.synth.labels import main

main()
