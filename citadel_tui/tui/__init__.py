"""The Textual dashboard. Data flows sources -> Workspace -> Comparison -> these views."""
