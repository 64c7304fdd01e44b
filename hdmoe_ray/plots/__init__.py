"""Figures (matplotlib, Agg backend): node-load and link-load heatmaps, report plots."""
