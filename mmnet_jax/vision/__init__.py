"""Pixels only: frames on disk, faces, apex spotting. Imports nothing else of the project."""
