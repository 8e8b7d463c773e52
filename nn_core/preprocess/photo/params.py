"""Every tuning constant of the photo cleanup, in one place.

Each entry: what it is, its unit, why it has that value, and the case that set it:
a condition of ``benchmarks/photo_accuracy.py`` ("benchmark: ...") or a test in
``tests/test_preprocess.py`` ("test: ..."). Fractions say of what; pixels are
at the photo's own resolution unless said otherwise. Change one, then run both.
"""

# -- lighting.py: the paper's level under every pixel -------------------------------------------
# Width of the border ring the paper's level is fitted to; fraction of the picture's shorter side.
# Thin enough to hold only paper round a digit, wide enough to average its grain.
# Set by: benchmark "uneven light"; test: test_a_faint_pen_photographed_in_uneven_light.
BACKGROUND_RING_WIDTH = 0.02
# Most ring pixels fitted; pixels. A 40-megapixel photo's ring, evenly thinned, still fits its light.
# Set by: the 40-megapixel limit of loading.py (a size, not a condition).
BACKGROUND_MAX_RING_SAMPLES = 50_000
# Rows and columns of the grid of inner pixels fitted with the ring; pixels per side of the grid.
# Holds the surface where strokes run along whole sides of the ring.
# Set by: benchmark "uneven light, cropped to the digit's ink".
BACKGROUND_INTERIOR_GRID = 64
# Each of the successive fits of the lighting surface takes the samples within this many noise standard
# deviations of the last fit: the first only what lies close to the median, so a strip of desk filling a
# third of the ring cannot pull it; later ones everything the lighting explains. Iterations of multiples.
# Set by: benchmark "uneven light, strip of desk along a side".
BACKGROUND_FIT_SPREADS = (2, 3, 3)
# Paper grain and JPEG noise stay within this many robust standard deviations of the paper's level.
# Set by: benchmark "even light" (no speck of grain may pass for ink).
INK_BEYOND_NOISE = 3

# A ring that is half desk, half paper (a page turned on the desk) has two levels:
# Least share of the ring each level holds; fraction of the ring's pixels.
# Set by: benchmark "uneven light, page turned 3-15° on the desk".
DESK_AND_PAPER_MIN_SHARE = 0.1
# Rounds of moving the split between the two levels to the middle of their means; iterations.
# Set by: test: test_a_photo_whose_border_is_half_desk_half_unevenly_lit_paper (converged by then).
DESK_AND_PAPER_SPLIT_ROUNDS = 5
# Least distance between the two levels; multiples of the larger level's noise (robust std).
# Uneven light's brighter and darker halves lie closer for their spread.
# Set by: test: test_a_photo_whose_border_is_half_desk_half_unevenly_lit_paper.
DESK_AND_PAPER_MIN_GAP = 4.5

# -- page.py: a page lying on a darker desk, which stood out from the desk as one block of "ink" ----
# Least width of the page each way; fraction of the picture's shorter side.
# Set by: benchmark "uneven light, desk all round the page" (pages fill 40-80% of a photo).
PAGE_MIN_THICKNESS = 0.3
# Least width of the page each way; pixels. A bold digit at MNIST's size is a block too.
# Set by: test: test_mnist_digits_pass_almost_unchanged.
PAGE_MIN_PIXELS = 100
# Least share of the page's outline area that is "ink"; fraction. A pen leaves thin holes, a drawn 0 a blank middle.
# Set by: test: test_a_large_square_zero_is_a_digit_not_a_page.
PAGE_MIN_FILL = 0.7
# Least share of the outline itself that is marked; fraction. A stroke curving round blank is not.
# Set by: test: test_a_large_square_zero_is_a_digit_not_a_page.
PAGE_MIN_MARKED_OUTLINE = 0.9
# Largest difference between the outline's area and its corner polygon's; fraction of the polygon's area.
# Round digits bulge beyond the polygon through their outermost points.
# Set by: benchmark "uneven light, page turned 3-15° on the desk".
PAGE_MAX_POLYGON_MISMATCH = 0.1
# Largest turn at a corner beyond square; degrees. A bold printed 4 or 7 comes to a sharper point.
# Set by: test: test_a_page_turned_on_the_desk (pages seen at a slant up to 15°).
PAGE_MAX_CORNER_SKEW = 35
# An outline turning less than this at a point runs straight on; degrees.
# Set by: test: test_a_page_turned_on_the_desk (pixel steps along a turned edge).
OUTLINE_STRAIGHT_TURN = 12
# Outline points this close are one corner (cut off, or found twice); fraction of the page's longer side.
# Set by: benchmark "uneven light, page turned 3-15° on the desk".
PAGE_CORNER_MERGE = 0.03
# The page's own edge (shadow, curl) left out of it; fraction of the page's shorter side.
# Desk or shadow left beyond it is cleared as an edge band.
# Set by: benchmark "uneven light, desk all round the page".
PAGE_RIM = 0.01

# -- edge_bands.py: strips of desk along the sides of a photo of paper --------------------------
# Dark ink along this share of a side is a band of desk, not a stroke; fraction of the side's length.
# Set by: benchmark "uneven light, strip of desk along a side".
BAND_MIN_SIDE_COVER = 0.9
# A run of ink along a side at least this long may be a band; fraction of the side's length.
# Set by: benchmark "uneven light, turned page filling the photo, desk in its corners" (the wedges).
BAND_MIN_RUN = 0.1
# A band this many times thicker than the pen's strokes elsewhere is desk; multiples of the stroke width.
# Set by: benchmark "uneven light, turned page filling the photo, desk in its corners".
BAND_MIN_THICKNESS = 2.0
# A band this many times darker than the pen's strokes is desk; multiples of the pen's core level.
# Set by: benchmark "uneven light, strip of desk along a side".
BAND_MIN_DARKNESS = 1.5
# Cleared beyond a band's inner edge, for its soft rim; fraction of the picture's longer side.
# Set by: benchmark "uneven light, strip of desk along a side".
BAND_CLEAR_MARGIN = 0.01
# A band reaches in at most this far; fraction of the length it runs along its side. A stem reaches deeper.
# Set by: test: test_a_scan_cropped_tight_to_the_digit_keeps_its_strokes_along_the_sides.
BAND_MAX_DEPTH = 0.5
# A band's inner edge lies at most this deep, where strokes leave it; multiples of its median depth.
# Set by: test: test_a_digit_cropped_to_its_ink_keeps_a_bar_along_a_whole_side.
BAND_MAX_STRAY = 3.0
# Ink at least this share of the pen's core level is a stroke, not its soft rim; fraction.
# Set by: test: test_a_digit_cropped_to_its_ink_on_three_sides_keeps_its_bar.
BAND_STROKE_LEVEL = 0.5
# Strokes are followed across the picture on a grid this many tiles along its longer side; tiles.
# A stroke's path is then a few hundred steps at most.
# Set by: benchmark "uneven light, cropped to the digit's ink" (speed; any grid finds the joins).
BAND_JOIN_GRID = 128

# -- ruled_lines.py: the printed lines of ruled or squared paper --------------------------------
# Lines are looked for in the picture shrunk by block maxima to this many pixels along its longer side.
# Set by: benchmark "uneven light, ruled paper with a margin, lines askew up to 4°" (speed; lines stay whole).
LINES_SEARCH_SIDE = 256
# Tilts tried, up to this either way; degrees. A notebook photographed askew, a page turned.
# Set by: benchmark "uneven light, ruled page turned 3-15° on the desk".
LINES_MAX_TILT = 20.0
# Step between tilts tried; degrees, so a line lies within a row of the nearest tilt at 256 px.
# Set by: benchmark "uneven light, ruled paper with a margin, lines askew up to 4°".
LINES_TILT_STEP = 0.25
# The tilt is found first on a grid, and in steps, this many times coarser; factor.
# Set by: benchmark "uneven light, squared paper, lines askew up to 4°" (speed).
LINES_COARSE_FACTOR = 4
# Lines photographed at a slant fan out, each up to this far from the commonest tilt; degrees.
# Set by: benchmark "uneven light, ruled page photographed at a slant, lines fanning out by up to 6°".
LINES_MAX_FAN = 4.0
# Printed lines never cross in a picture: a line found with more than this share of it on others is
# the same line at a worse tilt, or a stroke; fraction of its pixels.
# Set by: test: test_a_family_of_printed_lines_fans_out_but_nothing_else_does.
LINES_MAX_CROSSING = 0.1
# Lines tilted beyond LINES_LONE_MAX_TILT come as a family of at least this many; lines.
# Set by: test: test_a_long_light_stroke_of_a_digit_is_not_a_printed_line.
LINES_FAMILY = 3
# A lone line (a margin) lies within this of square to the picture or to its family; degrees.
# Set by: benchmark "uneven light, ruled paper with a margin, lines askew up to 4°".
LINES_LONE_MAX_TILT = 5.0
# A line marks at least this share of its length in the picture (a faint one has gaps); fraction.
# Set by: benchmark "uneven light, ruled paper with a margin, lines askew up to 4°".
LINES_MIN_COVER = 0.75
# A line is at least this long in the picture (tilted, it may leave by a side); fraction of the width.
# Set by: benchmark "uneven light, ruled page turned 3-15° on the desk".
LINES_MIN_LENGTH = 0.3
# Ink above this level counts as line: faint lines still grey the 28×28 average; fraction of the pen's level.
# Set by: benchmark "uneven light, squared paper, lines askew up to 4°" (lines 0.2-0.5 of the pen).
LINES_MIN_LEVEL = 0.05
# A line fainter than the pen is at most this dark, with no darker ink along most of it (a stroke's
# rim); fraction of the pen's level.
# Set by: benchmark "uneven light, ruled paper with a margin, lines askew up to 4°" (lines 0.2-0.5).
LINES_MAX_FAINT_LEVEL = 0.5
# Pixels on a faint line darker than this are the pen crossing it; multiples of the line's level.
# Set by: test: test_the_printed_lines_of_ruled_and_squared_paper_are_not_ink.
LINES_PEN_CROSSING = 1.5
# Lines darker than that (a pencil digit on a ruled page), or with a stroke along them, count only
# in a family of at least this many; lines.
# Set by: benchmark "uneven light, pencil on ruled paper, lines half to 9/10 as dark".
DARK_LINES_FAMILY = 4
# ... lying at least this far apart (a stroke filling a thin picture wobbles); multiples of their depth.
# Set by: test: test_a_family_of_printed_lines_lies_far_apart_for_their_depth.
DARK_LINES_MIN_GAP = 2.0
# ... and at most this dark (darker, they cannot be told from the pen); fraction of the pen's level.
# Set by: benchmark "uneven light, pencil on squared paper, lines half to 9/10 as dark".
DARK_LINES_MAX_LEVEL = 0.9
# Dark lines are cleared where nothing darker than this crosses them; multiples of the family's level.
# Set by: benchmark "uneven light, pencil on ruled paper, lines half to 9/10 as dark".
DARK_LINES_PEN_CROSSING = 1.2
# Fewer than a family (a digit in a maths book, cropped round it) count when each crosses at least
# this share of the picture; fraction of its width.
# Set by: benchmark "uneven light, pencil digit one or two squares tall on squared paper, cropped loosely".
FEW_LINES_MIN_SPAN = 0.9
# ... and runs on, marked over bare paper, at least this far beyond the digit at both ends; fraction of
# the picture's width.
# Set by: benchmark "uneven light, pencil digit one or two squares tall on squared paper, cropped loosely".
FEW_LINES_MIN_BEYOND = 0.05
