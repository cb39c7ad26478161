"""The report wing: boot timelines (SVG), budgets, summaries."""
