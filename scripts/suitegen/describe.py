"""The `describe` suite: photos, clip-art and rendered charts/diagrams/drawings, asked about in four ways.

Free-form descriptions (keyword groups and forbidden words) stay what the seed shows; short answers, multiple
choice and yes/no probes about the same images have answers that can be checked exactly. Every label was written
after looking at the image; chart labels follow the data plotted in `charts`.
"""

from __future__ import annotations

from .charts import (
    dc_revenue_chart,
    grouped_bar_chart,
    hbar_chart,
    histogram_chart,
    line_temp_chart,
    pie_chart,
    scatter_chart,
    two_line_chart,
    venn_chart,
)
from .render import chart
from .scenes import BASE, RED, clock_face, flowchart, landscape, scene, stop_sign
from .sources import photo_img, rendered
from .spec import (
    VERSION,
    Entry,
    Img,
    SuiteSpec,
    free_form,
    multiple_choice,
    sample,
    short_answer,
    yes_no,
)

DESCRIBE_QUESTIONS = ["Describe this image.", "What do you see in this picture?", "Describe this image in detail.",
                      "What is shown in this photo?"]  # fmt: skip
WOMAN = ["woman", "female", "lady", "she", "her"]

# (id, file, category, keyword groups, forbidden words) for free-form descriptions of shipped photos / clip-art
DESCRIBE_PHOTOS = [
    ("photo_astronaut", "astronaut.png", "photo", [["astronaut"], WOMAN, ["flag", "american flag", "stars and stripes"],
     ["spacesuit", "space suit", "suit", "uniform"]], ["man", "moon", "beard"]),
    ("photo_coffee", "coffee.png", "photo", [["coffee", "espresso", "cappuccino", "latte"], ["cup", "mug"],
     ["saucer", "plate"], ["spoon", "teaspoon"]], ["cake", "croissant", "laptop"]),
    ("photo_chelsea", "chelsea.png", "photo", [["cat", "kitten", "feline", "kitty"],
     ["tabby", "ginger", "orange", "brown", "striped", "stripe"], ["eye", "whisker"]], ["dog", "puppy", "collar"]),
    ("photo_rocket", "rocket.jpg", "photo", [["rocket", "falcon 9", "launch vehicle", "spacecraft"],
     ["night", "dark", "evening", "dusk", "twilight", "sunset", "dawn", "sunrise"],
     ["tower", "launch pad", "launchpad", "pad", "gantry", "light"]], ["airplane", "moon", "astronaut"]),
    ("photo_hubble_deep_field", "hubble_deep_field.jpg", "photo", [["galaxy", "galaxies", "star"],
     ["space", "universe", "cosmos", "deep field", "sky"]], ["moon", "planet", "earth"]),
    ("photo_coins", "coins.png", "photo", [["coin", "money", "currency"]], ["banknote", "dollar", "euro"]),
    ("photo_camera", "camera.png", "photo", [["man", "person", "photographer", "cameraman"],
     ["camera", "video camera", "movie camera", "camcorder"], ["tripod"]], ["woman", "dog", "hat"]),
    ("clipart_horse", "horse.png", "clipart", [["horse", "pony", "stallion", "mare"], ["silhouette", "black", "shadow"]],
     ["rider", "saddle", "cow"]),
    ("photo_grace_hopper", "grace_hopper.jpg", "photo", [WOMAN, ["uniform", "navy", "naval", "military", "officer"],
     ["glasses", "spectacles", "eyeglasses"], ["flag", "american flag"]], ["man", "beard"]),
    ("photo_moon_surface", "moon.png", "photo", [["crater"], ["surface", "terrain", "ground", "landscape", "moon",
                                                               "lunar"]], ["earth", "astronaut"]),
    ("photo_retina", "retina.jpg", "photo", [["retina", "fundus", "eye"],
     ["blood vessel", "vessel", "vein", "artery", "arteries"]], ["planet", "sun", "mars"]),
    ("photo_ihc", "ihc.png", "photo", [["tissue", "cell", "microscopy", "microscope", "histology", "stain", "stained",
     "slide"], ["brown"], ["blue", "purple"]], ["wood", "food"]),
    ("photo_brick", "brick.png", "photo", [["brick", "pavement", "paving", "paver", "wall", "cobblestone", "tile"],
     ["rectangular", "rectangle", "pattern", "row", "texture"]], ["window", "door", "graffiti"]),
    ("photo_grass", "grass.png", "photo", [["grass", "lawn", "turf", "leaves", "vegetation"]], ["flower", "dog"]),
    ("photo_gravel", "gravel.png", "photo", [["gravel", "pebble", "stone", "rock"]], ["water", "grass"]),
    ("photo_motorcycle", "motorcycle_left.png", "photo", [["motorcycle", "motorbike", "bike"], ["red"],
     ["garage", "workshop", "shelf", "shelves", "storage", "boxes"]], ["car", "rider"]),
    # The clock in this photo is an unrecognisable blurred oval: only what is visible is asked for.
    ("photo_blurred_oval", "clock_motion.png", "photo", [["blur", "blurry", "blurred", "motion blur",
     "out of focus", "fuzzy"], ["oval", "round", "circle", "circular", "ellipse", "disc", "disk"]], ["person", "car"]),
    ("graphic_color_wheel", "color.png", "graphic", [["wheel", "circle", "circular", "disc", "disk", "round"],
     ["color", "colour", "rainbow", "spectrum", "gradient", "hue", "colorful", "colourful", "multicolored", "multicoloured", "red",
      "green", "blue", "yellow"]], ["ball", "flower"]),
    ("clipart_gift", "Minduka_Present_Blue_Pack.png", "clipart", [["gift", "present", "box", "package"], ["blue"],
     ["ribbon", "bow"]], ["christmas tree", "balloon", "cake"]),
]  # fmt: skip

# (id, image maker, what it is, question, keyword groups, forbidden)
DESCRIBE_RENDERED = [
    ("chart_dc_revenue", dc_revenue_chart, "bar chart of a fictional company's data-centre revenue",
     "What does this chart show, and which fiscal year had the highest revenue?",
     [["bar chart", "bar graph", "bar plot", "column chart", "bars"], ["data center", "data centre", "datacenter"],
      ["revenue"], ["2024", "fy2024", "fy 2024"]], ["pie", "line chart"]),
    ("chart_temperature", lambda: chart(line_temp_chart), "line chart of monthly temperatures", "What does this chart show?",
     [["line chart", "line graph", "line plot", "line"], ["temperature"], ["month", "monthly"]], ["pie", "bar chart"]),
    ("chart_fruit_pie", lambda: chart(pie_chart, size=(6.0, 4.6)), "pie chart of a fruit survey", "Describe this chart.",
     [["pie chart", "pie"], ["fruit"], ["apple"], ["banana"]], ["bar chart", "mango"]),
    ("chart_scatter", lambda: chart(scatter_chart), "scatter plot of height against weight", "What does this chart show?",
     [["scatter plot", "scatter", "scatterplot", "dot", "point"], ["height"], ["weight"]], ["pie", "bar chart"]),
    ("chart_region_sales", lambda: chart(grouped_bar_chart), "grouped bar chart of sales by region",
     "Describe this chart.", [["bar chart", "bar graph", "bar"], ["sales", "units sold"], ["region", "north", "south"]],
     ["pie", "profit"]),
    ("chart_languages", lambda: chart(hbar_chart), "horizontal bar chart of programming languages",
     "What does this chart show?", [["bar chart", "bar graph", "bar"], ["python"], ["programming", "language"]],
     ["pie", "typescript"]),
    ("chart_visitors", lambda: chart(two_line_chart), "line chart of desktop and mobile visitors", "Describe this chart.",
     [["line chart", "line graph", "line"], ["mobile"], ["desktop"], ["visitor", "traffic", "visit"]],
     ["pie", "tablet"]),
    ("chart_exam_hist", lambda: chart(histogram_chart), "histogram of exam scores", "What does this chart show?",
     [["histogram", "bar chart", "distribution", "bars"], ["exam", "score", "test"]], ["pie", "line chart"]),
    ("diagram_venn", lambda: chart(venn_chart, size=(6.0, 4.0)), "Venn diagram", "Describe this diagram.",
     [["venn diagram", "venn", "overlapping circles", "circle"], ["data science"], ["python"], ["statistics"]],
     ["triangle", "mathematics"]),
    ("diagram_flow", lambda: flowchart(["Collect data", "Clean data", "Train model", "Evaluate", "Deploy"]),
     "flowchart of a machine-learning pipeline", "Describe this diagram.",
     [["flowchart", "flow chart", "diagram", "flow diagram", "pipeline", "process", "workflow"], ["train", "training"],
      ["deploy", "deployment"], ["data"]], ["person", "pie chart"]),
    # Each colour is asked for with its shape: "a blue circle and a red square" names the wrong pairs.
    ("shapes", lambda: scene(BASE), "red circle, blue square and green triangle", "Describe this image.",
     [["red circle"], ["blue square"], ["green triangle"]], ["star", "hexagon"]),
    ("stop_sign", stop_sign, "stop sign", "What is shown in this image?",
     [["stop sign", "stop"], ["red"], ["octagon", "octagonal", "eight sided"]], ["yield", "traffic light"]),
    ("house_tree_sun", lambda: landscape((40, 140, 50), house=True), "house, tree and sun drawing",
     "Describe this image.", [["house", "home", "building", "cottage"], ["tree"], ["sun"]], ["car", "dog", "person"]),
    ("tree_autumn", lambda: landscape((230, 120, 30), sun=False), "tree with orange autumn leaves",
     "Describe this image.", [["tree"], ["orange", "autumn", "fall", "red", "yellow"], ["grass", "field", "lawn",
                                                                                     "meadow", "ground"]],
     ["snow", "house"]),
]  # fmt: skip

# Extra rendered images that only exact questions use: (id, maker, what)
EXTRA_RENDERED = [
    ("clock_three", lambda: clock_face(3, 0), "analogue clock showing three o'clock"),
    ("clock_ten_past_ten", lambda: clock_face(10, 10), "analogue clock showing ten past ten"),
    ("clock_half_past_seven", lambda: clock_face(7, 30), "analogue clock showing half past seven"),
    ("clock_quarter_to_five", lambda: clock_face(4, 45), "analogue clock showing a quarter to five"),
    ("circles_five", lambda: scene([("circle", float(x), 192.0, 34, RED) for x in (80, 168, 256, 344, 432)]),
     "five red circles in a row"),
]  # fmt: skip

CHART_KINDS = ["a bar chart", "a line chart", "a pie chart", "a scatter plot"]

# Questions with checkable answers about the images above: (image id, question id, body, demands)
EXACT = [
    # short answers: chart values (printed or estimated), chart labels, counts, clock times, words
    ("chart_dc_revenue", "fy2022", short_answer("What was the revenue in FY2022, in billion USD?", ["5.6"], "number"),
     ("printed",)),
    ("chart_dc_revenue", "top_year", short_answer("Which fiscal year had the highest revenue?",
                                                  ["FY2024", "FY 2024", "2024"]), ("lookup",)),
    ("chart_region_sales", "east_2024", short_answer("How many units did the East region sell in 2024?", ["170"],
                                                     "number"), ("estimate",)),
    ("chart_region_sales", "fewest_2024", short_answer("Which region sold the fewest units in 2024?", ["West"]),
     ("lookup",)),
    ("chart_fruit_pie", "banana", short_answer("What percentage of people chose Banana?", ["25"], "number"),
     ("printed",)),
    ("chart_languages", "python", short_answer("What share of respondents use Python, in percent?", ["49"], "number"),
     ("estimate",)),
    ("chart_languages", "least", short_answer("Which language has the smallest share?", ["Rust"]), ("lookup",)),
    ("diagram_venn", "overlap", short_answer("What is written where the two circles overlap?", ["Data Science"]),
     ("printed",)),
    ("diagram_flow", "after_train", short_answer("Which step comes right after 'Train model' in this flowchart?",
                                                 ["Evaluate"]), ("lookup",)),
    ("diagram_flow", "steps", short_answer("How many steps does this flowchart have?", ["5"], "number"),
     ("count_few",)),
    ("circles_five", "count", short_answer("How many red circles are in this image?", ["5"], "number"),
     ("count_few",)),
    ("photo_coins", "count", short_answer("How many coins are in this image?", ["24"], "number"), ("count_many",)),
    ("clock_three", "time", short_answer("What time does this clock show?", ["3:00"], "time"), ("clock",)),
    ("clock_ten_past_ten", "time", short_answer("What time does this clock show?", ["10:10"], "time"), ("clock",)),
    ("clock_half_past_seven", "time", short_answer("What time does this clock show?", ["7:30"], "time"), ("clock",)),
    ("clock_quarter_to_five", "time", short_answer("What time does this clock show?", ["4:45"], "time"), ("clock",)),
    ("photo_motorcycle", "brand", short_answer("What brand name is written on the motorcycle's fuel tank?",
                                               ["Yamaha"]), ("real_text",)),
    # multiple choice
    ("photo_chelsea", "animal", multiple_choice("What animal is in this photo?", ["cat", "dog", "rabbit", "fox"], 0),
     ("salient",)),
    ("photo_astronaut", "suit", multiple_choice("What colour is the astronaut's suit?",
                                                ["white", "blue", "orange", "green"], 2), ("salient",)),
    ("photo_coffee", "saucer", multiple_choice("What lies on the saucer next to the cup?",
                                               ["a fork", "a spoon", "a knife", "a biscuit"], 1), ("salient",)),
    ("chart_fruit_pie", "kind", multiple_choice("What kind of chart is this?", CHART_KINDS, 2), ("salient",)),
    ("chart_scatter", "kind", multiple_choice("What kind of chart is this?", CHART_KINDS, 3), ("salient",)),
    ("chart_temperature", "kind", multiple_choice("What kind of chart is this?", CHART_KINDS, 1), ("salient",)),
    ("chart_visitors", "june", multiple_choice("Which had more visitors in June?", ["Mobile", "Desktop"], 0),
     ("lookup",)),
    ("shapes", "triangle", multiple_choice("What colour is the triangle?", ["green", "red", "blue", "yellow"], 0), ("salient",)),
    ("stop_sign", "shape", multiple_choice("What shape is the sign?", ["circle", "triangle", "square", "octagon"], 3),
     ("salient",)),
    ("clipart_horse", "animal", multiple_choice("What animal does this silhouette show?",
                                                ["dog", "horse", "cow", "cat"], 1), ("salient",)),
    ("photo_grace_hopper", "face", multiple_choice("What is the person wearing on their face?",
                                                   ["glasses", "a face mask", "a monocle", "nothing"], 0),
     ("salient",)),
    ("clipart_gift", "colour", multiple_choice("What colour is the gift box?", ["red", "green", "yellow", "blue"], 3), ("salient",)),
    ("tree_autumn", "leaves", multiple_choice("What colour are the tree's leaves?",
                                              ["green", "pink", "orange", "blue"], 2), ("salient",)),
    # yes/no object probes (POPE style): one object that is there and one that is not, per image
    ("photo_astronaut", "yes_flag", yes_no("Is there a flag in the image?", True), ("salient",)),
    ("photo_astronaut", "no_dog", yes_no("Is there a dog in the image?", False), ("salient",)),
    ("photo_coffee", "yes_spoon", yes_no("Is there a spoon in the image?", True), ("salient",)),
    ("photo_coffee", "no_fork", yes_no("Is there a fork in the image?", False), ("salient",)),
    ("photo_chelsea", "yes_cat", yes_no("Is there a cat in the image?", True), ("salient",)),
    ("photo_chelsea", "no_dog", yes_no("Is there a dog in the image?", False), ("salient",)),
    ("photo_camera", "yes_tripod", yes_no("Is there a tripod in the image?", True), ("salient",)),
    ("photo_camera", "no_bicycle", yes_no("Is there a bicycle in the image?", False), ("salient",)),
    ("photo_rocket", "yes_rocket", yes_no("Is there a rocket in the image?", True), ("salient",)),
    ("photo_rocket", "no_airplane", yes_no("Is there an airplane in the image?", False), ("salient",)),
    ("house_tree_sun", "yes_sun", yes_no("Is there a sun in the image?", True), ("salient",)),
    ("house_tree_sun", "no_car", yes_no("Is there a car in the image?", False), ("salient",)),
    ("clipart_gift", "yes_ribbon", yes_no("Is there a ribbon in the image?", True), ("salient",)),
    ("clipart_gift", "no_balloon", yes_no("Is there a balloon in the image?", False), ("salient",)),
]  # fmt: skip


def _images() -> dict[str, tuple[Img, str]]:
    """Every image of the suite by id, with its category tag."""
    out: dict[str, tuple[Img, str]] = {}
    for sid, name, category, _, _ in DESCRIBE_PHOTOS:
        out[sid] = (photo_img(f"images/{sid}.jpg", name), category)
    for sid, make_img, what, *_ in DESCRIBE_RENDERED + EXTRA_RENDERED:
        category = "chart" if sid.startswith(("chart", "diagram")) else "drawing"
        out[sid] = (rendered(f"images/{sid}.png", make_img, what), category)
    return out


def describe_suite() -> SuiteSpec:
    images = _images()
    entries: list[Entry] = []
    for i, (sid, _, category, groups, forbidden) in enumerate(DESCRIBE_PHOTOS):
        body = free_form(DESCRIBE_QUESTIONS[i % len(DESCRIBE_QUESTIONS)], groups, forbidden)
        entries.append(sample(sid, [images[sid][0]], body, ("description",), category=category))
    for sid, _, _, question, groups, forbidden in DESCRIBE_RENDERED:
        entries.append(sample(sid, [images[sid][0]], free_form(question, groups, forbidden), ("description",),
                              category=images[sid][1]))  # fmt: skip
    for image_id, qid, body, demands in EXACT:
        img, category = images[image_id]
        entries.append(sample(f"{image_id}_{qid}", [img], body, demands, category=category))
    meta = {"task": "describe", "version": VERSION,
            "description": "Photos, clip-art and rendered charts/diagrams: free-form descriptions scored by keywords, "
                           "and short-answer, multiple-choice and yes/no questions with checkable answers."}  # fmt: skip
    intro = """
Labels: free-form descriptions (`type: free_form`) are scored by keyword groups (a group counts when any of its
alternatives is named outside a negated phrase; plurals tolerated) and `forbidden` words, plausible
hallucinations absent from the image (a dog in a cat photo, "pie" for a bar chart). Groups name what is clearly
visible, never a property of the photograph itself (black and white, blur of a texture). The other questions ask
about the same images with one checkable answer: chart values (printed, or estimated from the axis within 5%),
chart labels, counts, clock times (compared on a 12-hour dial), colours and object kinds (multiple choice), and
yes/no probes for an object that is there and one that is not (POPE style, balanced). Every label was written
after looking at the image; chart labels follow the data the script plots. Photos are re-encoded as JPEG
(quality 85), downscaled to at most 768 px on the long side; clip-art and the colour wheel are tagged as such.
"""
    return SuiteSpec(meta, intro, entries)
