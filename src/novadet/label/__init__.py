"""The labelling loop: which pool images to label next, with pre-labels for the team's annotation tool."""
