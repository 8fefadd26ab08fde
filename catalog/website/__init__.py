"""The static site builder: facts from the history, embedded price data, the chart, downloads."""
