"""What recognised text becomes before anyone reads it: Chinese numbers as digits (``itn``),
hot words matched by sound (``hot_words``), spacing between Chinese and Latin (``spacing``),
and the one stage that applies them in order (``stage``), shared by dictation, files and the
server's API. This room is ground floor: it imports nothing else of the package.
"""


from capswriter.text.stage import Change, HotWordFile, TextOptions, TextResult, TextStage

__all__ = ["Change", "HotWordFile", "TextOptions", "TextResult", "TextStage"]
