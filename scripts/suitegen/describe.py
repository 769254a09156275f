"""The `describe` suite: open-ended descriptions of photos and rendered charts/diagrams/drawings.

Labels (keyword groups and forbidden words) were written by hand after looking at every image.
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
from .scenes import BASE, clock_face, flowchart, landscape, scene, stop_sign
from .sources import photo_img, rendered
from .spec import VERSION, Entry, SuiteSpec

DESCRIBE_QUESTIONS = ["Describe this image.", "What do you see in this picture?", "Describe this image in detail.",
                      "What is shown in this photo?"]  # fmt: skip

# (image file, keyword groups, forbidden words)
DESCRIBE_PHOTOS = [
    ("astronaut.png", [["astronaut"], ["woman", "female", "lady"], ["flag", "american flag", "stars and stripes"],
                       ["spacesuit", "space suit", "suit", "uniform"]], ["man", "moon", "beard"]),
    ("coffee.png", [["coffee", "espresso", "cappuccino", "latte"], ["cup", "mug"], ["saucer", "plate"],
                    ["spoon", "teaspoon"]], ["cake", "croissant", "laptop"]),
    ("chelsea.png", [["cat", "kitten", "feline", "kitty"], ["tabby", "ginger", "orange", "brown"],
                     ["eye", "whisker"]], ["dog", "puppy", "collar"]),
    ("rocket.jpg", [["rocket", "falcon 9", "launch vehicle", "spacecraft"], ["night", "dark", "evening", "dusk"],
                    ["tower", "launch pad", "launchpad", "pad", "light"]], ["airplane", "moon", "astronaut"]),
    ("hubble_deep_field.jpg", [["galaxy", "galaxies", "star"], ["space", "universe", "cosmos", "deep field", "sky"]],
     ["moon", "planet", "earth"]),
    ("coins.png", [["coin", "money", "currency"], ["black and white", "grayscale", "greyscale", "monochrome", "gray",
                                                   "grey"]], ["banknote", "dollar", "euro"]),
    ("camera.png", [["man", "person", "photographer", "cameraman"], ["camera", "video camera", "movie camera"],
                    ["tripod"], ["black and white", "grayscale", "greyscale", "monochrome", "gray", "grey"]],
     ["woman", "dog", "hat"]),
    ("horse.png", [["horse", "pony", "stallion", "mare"], ["silhouette", "black", "shadow"]],
     ["rider", "saddle", "cow"]),
    ("grace_hopper.jpg", [["woman", "lady", "female"], ["uniform", "navy", "naval", "military", "officer"],
                          ["glasses", "spectacles", "eyeglasses"], ["flag", "american flag"]], ["man", "beard"]),
    ("moon.png", [["moon", "lunar"], ["crater", "surface"]], ["earth", "astronaut"]),
    ("retina.jpg", [["retina", "fundus", "eye"], ["blood vessel", "vessel", "vein", "artery", "arteries"]],
     ["planet", "sun", "mars"]),
    ("ihc.png", [["tissue", "cell", "microscopy", "microscope", "histology", "stain", "stained", "slide"],
                 ["brown"], ["blue", "purple"]], ["wood", "food"]),
    ("brick.png", [["brick", "brick wall", "pavement", "paving", "wall"], ["gray", "grey", "grayscale",
                                                                          "black and white"]],
     ["window", "door", "graffiti"]),
    ("grass.png", [["grass", "lawn", "turf", "leaves", "vegetation"]], ["flower", "dog"]),
    ("gravel.png", [["gravel", "pebble", "stone", "rock"]], ["water", "grass"]),
    ("motorcycle_left.png", [["motorcycle", "motorbike", "bike"], ["red"],
                             ["garage", "workshop", "shelf", "shelves", "storage", "boxes"]], ["car", "rider"]),
    ("clock_motion.png", [["clock", "watch"], ["blurry", "blurred", "blur", "motion blur", "out of focus"]],
     ["person", "car"]),
    ("color.png", [["color wheel", "colour wheel", "color circle", "circle", "spectrum", "hue"],
                   ["rainbow", "gradient", "colorful", "colourful", "colors", "colours"]], ["ball", "flower"]),
    ("Minduka_Present_Blue_Pack.png", [["gift", "present", "box", "package"], ["blue"], ["ribbon", "bow"]],
     ["christmas tree", "balloon", "cake"]),
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
    ("shapes", lambda: scene(BASE), "red circle, blue square and green triangle", "Describe this image.",
     [["circle"], ["square"], ["triangle"], ["red"], ["blue"], ["green"]], ["star", "hexagon"]),
    ("stop_sign", stop_sign, "stop sign", "What is shown in this image?",
     [["stop sign", "stop"], ["red"], ["octagon", "octagonal", "eight sided"]], ["yield", "traffic light"]),
    ("clock_three", lambda: clock_face(3, 0), "analogue clock showing three o'clock", "What time does this clock show?",
     [["clock"], ["3 00", "three o clock", "3 o clock", "3", "three"]], ["digital", "alarm"]),
    ("house_tree_sun", lambda: landscape((40, 140, 50), house=True), "house, tree and sun drawing",
     "Describe this image.", [["house", "home", "building", "cottage"], ["tree"], ["sun"]], ["car", "dog", "person"]),
    ("tree_autumn", lambda: landscape((230, 120, 30), sun=False), "tree with orange autumn leaves",
     "Describe this image.", [["tree"], ["orange", "autumn", "fall", "red", "yellow"], ["grass", "field", "lawn",
                                                                                     "meadow", "ground"]],
     ["snow", "house"]),
]  # fmt: skip


def describe_suite() -> SuiteSpec:
    entries: list[Entry] = []
    for i, (name, groups, forbidden) in enumerate(DESCRIBE_PHOTOS):
        sid = "photo_" + name.split(".")[0].lower().replace("_present_blue_pack", "_gift")
        rel = f"images/{sid}.jpg"
        sample = {"id": sid, "images": [rel], "question": DESCRIBE_QUESTIONS[i % len(DESCRIBE_QUESTIONS)],
                  "keywords": groups, "forbidden": forbidden, "tags": {"category": "photo"}}  # fmt: skip
        entries.append(Entry(sample, [photo_img(rel, name)]))
    for sid, make_img, what, question, groups, forbidden in DESCRIBE_RENDERED:
        rel = f"images/{sid}.png"
        category = "chart" if sid.startswith(("chart", "diagram")) else "drawing"
        sample = {"id": sid, "images": [rel], "question": question, "keywords": groups, "forbidden": forbidden,
                  "tags": {"category": category}}  # fmt: skip
        entries.append(Entry(sample, [rendered(rel, make_img, what)]))
    meta = {"task": "describe", "version": VERSION,
            "description": "Open-ended descriptions of real photographs and rendered charts/diagrams, scored by "
                           "keyword recall and forbidden (hallucinated) mentions."}  # fmt: skip
    intro = """
Labels: `keywords` is a list of groups; a group counts as mentioned when any of its alternatives appears as a
whole word or phrase (plurals tolerated). Groups name what is clearly visible (objects, colours, chart type,
chart subject). `forbidden` lists plausible hallucinations that are absent from the image (a dog in a cat photo,
"pie" for a bar chart). Labels were written by hand after looking at every image; chart labels follow the data
the script plots. Photos are re-encoded as JPEG (quality 85), downscaled to at most 768 px on the long side.
"""
    return SuiteSpec(meta, intro, entries)
