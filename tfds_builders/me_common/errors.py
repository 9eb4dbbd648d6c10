"""What a build raises for bad input: each names the file or the clip at fault."""


class SourceNotFoundError(FileNotFoundError):
    """The sheet or the frame folder of a release is not inside ``manual_dir``."""


class SheetFormatError(ValueError):
    """The sheet has no header row with the columns the builder reads."""


class BadClipError(ValueError):
    """Strict mode: a clip would have been skipped or estimated."""


class NoClipsError(RuntimeError):
    """No clip could be built (the report says why)."""
