"""Production against training: is the data the model will meet still the data it learned from?"""
