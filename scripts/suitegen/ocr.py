"""The `ocr` suite: rendered documents (clean and degraded) with exact references, plus hand-transcribed real text.

Clean documents are defined once (`ocr_docs`); degraded samples re-render a clean document and apply a
fixed degradation, so both share one reference.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from .degrade import blur, low_contrast, noise, perspective, rotate
from .documents import (
    MONO,
    MONO_B,
    SANS,
    SANS_B,
    SANS_I,
    SERIF,
    SERIF_B,
    book_cover,
    code_doc,
    doc,
    para_doc,
    sign,
    table,
)
from .edits import price_tag
from .render import jpeg, png
from .sources import PHOTO_SOURCES, photo, rendered
from .spec import RENDERED, RENDERED_LICENCE, VERSION, Entry, Img, SuiteSpec, sample, short_answer, transcription

# (id, title, author, tagline or "", background, foreground, title font)
COVERS = [
    ("cover_alone", "ALONE", "Morgan Maxwell", "A NOVEL", (20, 60, 70), (240, 230, 200), SERIF_B),
    ("cover_quiet_harbor", "THE QUIET HARBOR", "Elena Marsh", "", (200, 215, 225), (25, 40, 70), SERIF_B),
    ("cover_midnight", "Midnight Algorithms", "R. K. Patel", "", (15, 15, 35), (120, 220, 255), SANS_B),
    ("cover_salt_iron", "SALT AND IRON", "Jonah Whitfield", "Book One of the Ember Coast", (120, 30, 25),
     (250, 235, 210), SERIF_B),
    ("cover_cartographer", "The Cartographer's Daughter", "Amelia Stone", "", (235, 225, 200), (70, 45, 30), SERIF),
    ("cover_glass_sky", "BENEATH A GLASS SKY", "Theo Lindqvist", "Stories", (60, 40, 110), (255, 220, 120), SANS_B),
]  # fmt: skip

RECEIPT_1 = [("GREENLEAF MARKET", SANS_B, 26), ("14 Harbour Street, Leeds", SANS, 16),
             ("Date: 2024-03-15 Time: 10:42", MONO, 16), ("Milk 2L\t1.35", MONO, 18),
             ("Sourdough bread\t2.80", MONO, 18), ("Free-range eggs x6\t2.15", MONO, 18),
             ("Bananas 1.2kg\t1.02", MONO, 18), ("TOTAL\t7.32", MONO_B, 20), ("Paid by card", MONO, 16),
             ("Thank you for shopping!", SANS_I, 16)]  # fmt: skip
RECEIPT_2 = [("CAFE AURORA", SERIF_B, 28), ("Order #2291", MONO, 18), ("Flat white\t3.40", MONO, 18),
             ("Croissant\t2.60", MONO, 18), ("Orange juice\t2.95", MONO, 18), ("Subtotal\t8.95", MONO, 18),
             ("VAT 20%\t1.79", MONO, 18), ("Total\t10.74", MONO_B, 20)]  # fmt: skip
FORM_VISITOR = [("VISITOR REGISTRATION", SANS_B, 24), ("Name: Jane A. Doe", SANS, 20),
                ("Company: Halden Analytics Ltd", SANS, 20), ("Date of visit: 07/11/2024", SANS, 20),
                ("Host: Dr. Omar Reyes", SANS, 20), ("Badge No.: V-3318", SANS, 20)]  # fmt: skip
FORM_SHIPPING = [("SHIP TO", SANS_B, 22), ("Marta Kowalczyk", SERIF, 22), ("22 Linden Avenue, Apt 5B", SERIF, 20),
                 ("Springfield, IL 62704", SERIF, 20), ("Tracking: 1Z 999 AA1 01 2345 6784", MONO, 18),
                 ("Weight: 2.4 kg", MONO, 18)]  # fmt: skip
INVOICE = [("Invoice No. 000417", SANS_B, 24), ("Issued: 15 March 2024", SANS, 20), ("Due: 2024-04-14", SANS, 20),
           ("Amount due: €1,284.50", SANS_B, 22)]  # fmt: skip
CONTACT = [("Phone: +44 20 7946 0958", MONO, 20), ("Fax: +44 20 7946 0959", MONO, 20),
           ("SN: 7QX-4410-BZ9", MONO_B, 20)]  # fmt: skip
MEETING = [("Meeting moved to Thu 09/05 at 14:30, Room 3.12", SERIF, 20)]
CODE_PY = ["def mean(values):", "    total = 0", "    for v in values:", "        total += v",
           "    return total / len(values)"]  # fmt: skip
CODE_SHELL = ["$ pip install evalkit", "$ evalkit suite=ocr model=phi3v", "Loaded 45 samples in 0.3 s"]
PARAGRAPHS = [
    ("para_committee", SERIF, 22, 640, "The committee met on Tuesday to review the annual budget. After a long "
     "discussion, members agreed to fund the new library wing and to postpone the parking expansion until next "
     "spring."),
    ("para_lighthouse", SANS, 16, 560, "The lighthouse on Gull Point was built in 1871 and automated in 1964. "
     "Its lamp can be seen from 22 nautical miles away on a clear night."),
    ("para_quote", SANS_I, 26, 600, "Simple things should be simple, complex things should be possible."),
]  # fmt: skip
TABLE_SALES = [["Region", "Q1", "Q2", "Q3", "Q4"], ["North", "120", "135", "150", "160"],
               ["South", "98", "102", "110", "125"], ["East", "143", "139", "151", "170"],
               ["West", "87", "95", "101", "99"]]  # fmt: skip
TABLE_TRAINS = [["Destination", "Platform", "Departs"], ["Westbridge", "4", "09:15"], ["Kingsport", "2", "09:32"],
                ["Ashford Lake", "7", "09:48"], ["Millbrook", "1", "10:05"]]  # fmt: skip

READ_ALL = "Read all the text in this image. Reply with the text only, as plain text."

# Degraded copies of clean documents: (clean id, degradation, function, output format, demand)
DEGRADED = [
    ("cover_alone", "rotation", lambda im: rotate(im, 7), "png", "mild_degradation"),
    ("cover_midnight", "blur", lambda im: blur(im, 1.6), "png", "mild_degradation"),
    ("receipt_greenleaf", "noise", lambda im: noise(im, 28, seed=101), "png", "heavy_degradation"),
    ("receipt_greenleaf", "rotation", lambda im: rotate(im, -4), "png", "mild_degradation"),
    ("receipt_aurora", "jpeg", None, "jpeg12", "heavy_degradation"),
    ("sign_no_parking", "perspective", perspective, "png", "heavy_degradation"),
    ("sign_platform", "low_contrast", low_contrast, "png", "mild_degradation"),
    ("form_visitor", "perspective", perspective, "png", "heavy_degradation"),
    ("table_sales", "blur", lambda im: blur(im, 1.2), "png", "mild_degradation"),
    ("para_committee", "jpeg", None, "jpeg15", "heavy_degradation"),
    ("para_lighthouse", "rotation_noise", lambda im: noise(rotate(im, 3), 18, seed=202), "png", "heavy_degradation"),
    ("code_python", "low_contrast", low_contrast, "png", "mild_degradation"),
    ("numbers_invoice", "perspective", perspective, "png", "heavy_degradation"),
    ("numbers_contact", "blur_noise", lambda im: noise(blur(im, 1.0), 15, seed=303), "png", "heavy_degradation"),
]


def ocr_docs() -> dict[str, tuple[str, Callable[[], tuple[Image.Image, str]], str]]:
    """Every rendered document by id: (category, maker returning (image, reference), transcription demand)."""
    docs: dict = {}
    for cid, title, author, tagline, bg, fg, tf in COVERS:
        docs[cid] = ("book_cover", lambda a=(title, author, tagline, bg, fg, tf): book_cover(*a), "short_text")
    docs.update({
        "receipt_greenleaf": ("receipt", lambda: doc(RECEIPT_1, width=420), "long_text"),
        "receipt_aurora": ("receipt", lambda: doc(RECEIPT_2, width=400), "long_text"),
        "sign_no_parking": ("sign", lambda: sign([("NO PARKING", 56), ("FIRE LANE", 40)], (200, 20, 30), "white"),
                            "short_text"),
        "sign_exit": ("sign", lambda: sign([("EXIT", 80)], (20, 130, 60), "white", arrow=True), "short_text"),
        "sign_platform": ("sign", lambda: sign([("PLATFORM 4", 48), ("Trains to Westbridge", 28),
                                                ("Departures every 15 min", 22)], (20, 40, 100), (250, 210, 40)),
                          "short_text"),
        "sign_wet_floor": ("sign", lambda: sign([("CAUTION", 60), ("WET FLOOR", 44)], (250, 210, 20), "black"),
                           "short_text"),
        "form_visitor": ("form", lambda: doc(FORM_VISITOR, width=520), "long_text"),
        "form_shipping": ("form", lambda: doc(FORM_SHIPPING, width=520), "long_text"),
        "table_sales": ("table", lambda: table("Quarterly Sales (units)", TABLE_SALES, [120, 80, 80, 80, 80]),
                        "long_text"),
        "table_trains": ("table", lambda: table("Departures", TABLE_TRAINS, [170, 120, 110]), "long_text"),
        "code_python": ("code", lambda: code_doc(CODE_PY), "long_text"),
        "code_shell": ("code", lambda: code_doc(CODE_SHELL, 16, bg=(30, 30, 30), fg=(120, 230, 120)), "short_text"),
        "numbers_invoice": ("numbers", lambda: doc(INVOICE, width=480), "long_text"),
        "numbers_contact": ("numbers", lambda: doc(CONTACT, width=440), "short_text"),
        "numbers_meeting": ("numbers", lambda: doc(MEETING, width=600), "short_text"),
        "price_tag": ("price_tag", lambda: (price_tag("$4.99"), "Fresh Strawberries\n$4.99"), "short_text"),
    })  # fmt: skip
    for pid, f, s, w, t in PARAGRAPHS:
        docs[pid] = (
            "paragraph",
            lambda a=(f, s, w, t): para_doc(*a),
            "short_text" if pid == "para_quote" else "long_text",
        )
    return docs


# Which documents are transcribed in full (covers and the price tag are asked about, not transcribed); code is
# case-sensitive, everything else is scored ignoring case.
TRANSCRIBED = ["receipt_greenleaf", "receipt_aurora", "sign_no_parking", "sign_exit", "sign_platform", "sign_wet_floor",
               "form_visitor", "form_shipping", "table_sales", "table_trains", "code_python", "code_shell",
               "numbers_invoice", "numbers_contact", "numbers_meeting", "para_committee", "para_lighthouse",
               "para_quote"]  # fmt: skip
CASE_SENSITIVE = {"code_python", "code_shell", "real_page_code"}
TITLE_Q, AUTHOR_Q = "What is the title of this book?", "Who is the author of this book?"

# One field per question: (image id, question id, question, accepted answers, demands). Matched with ANLS.
FIELDS = [
    *[(cid, "title", TITLE_Q, [title], ("printed",)) for cid, title, *_ in COVERS],
    *[(cid, "author", AUTHOR_Q, [author], ("printed",)) for cid, _, author, *_ in COVERS
      if cid in ("cover_alone", "cover_midnight", "cover_salt_iron")],
    ("cover_alone_rotation", "title", TITLE_Q, ["ALONE"], ("printed", "mild_degradation")),
    ("cover_midnight_blur", "title", TITLE_Q, ["Midnight Algorithms"], ("printed", "mild_degradation")),
    ("receipt_greenleaf", "total", "What is the total on this receipt?", ["7.32"], ("lookup",)),
    ("receipt_aurora", "total", "What is the total on this receipt?", ["10.74"], ("lookup",)),
    ("receipt_aurora", "order", "What is the order number on this receipt?", ["2291", "#2291"], ("lookup",)),
    ("receipt_aurora_jpeg", "total", "What is the total on this receipt?", ["10.74"], ("lookup", "heavy_degradation")),
    ("form_visitor", "name", "What is the visitor's name on this form?", ["Jane A. Doe"], ("lookup",)),
    ("form_visitor", "badge", "What is the badge number on this form?", ["V-3318"], ("lookup",)),
    ("numbers_invoice", "amount", "What is the amount due on this invoice?",
     ["€1,284.50", "1,284.50", "EUR 1,284.50", "1284.50"], ("lookup",)),
    ("sign_platform", "number", "Which platform number is on this sign?", ["4"], ("printed",)),
    ("price_tag", "price", "What is the price on this tag?", ["$4.99", "4.99"], ("printed",)),
    ("table_trains", "kingsport", "From which platform does the train to Kingsport depart?", ["2"], ("lookup",)),
    ("table_sales", "east_q4", "How many units did the East region sell in Q4?", ["170"], ("lookup",)),
]  # fmt: skip


# Real photographed/scanned text, transcribed by hand from the images (see README).
PAGE_HEADING = "Region-based segmentation"
PAGE_PARAGRAPH = ("Let us first determine markers of the coins and the background. These markers are pixels that "
                  "we can label unambiguously as either object or background. Here, the markers are found at the "
                  "two extreme parts of the histogram of grey values:")  # fmt: skip
PAGE_CODE = ">>> markers = np.zeros_like(coins)"
REAL_TEXT = [
    # (id, file, crop box or None, upscale, reference, note)
    ("real_page", "page.png", None, 2, "\n".join([PAGE_HEADING, PAGE_PARAGRAPH, PAGE_CODE]),
     "whole page; the cut-off footer line at the bottom edge is not legible and not in the reference"),
    ("real_page_heading", "page.png", (0, 0, 384, 40), 2, PAGE_HEADING, "crop of the heading"),
    ("real_page_paragraph", "page.png", (0, 38, 384, 140), 2, PAGE_PARAGRAPH, "crop of the paragraph"),
    ("real_page_code", "page.png", (12, 158, 256, 191), 3, PAGE_CODE, "crop of the code line; the cut-off footer fragment at its lower left is illegible and not in the reference"),
    ("real_name_tag", "grace_hopper.jpg", (70, 475, 180, 525), 4, "COMO HOPPER", "crop of the uniform name tag"),
    ("real_logo", "logo2.png", None, 1, "matplotlib", "logo; the 'o' is drawn as a small chart"),
]  # fmt: skip


def real_text_img(rel: str, name: str, box, scale: int, note: str) -> Img:
    def edit(img: Image.Image) -> Image.Image:
        img = img.crop(box) if box else img
        return img.resize((img.width * scale, img.height * scale), Image.Resampling.LANCZOS) if scale > 1 else img

    src, lic = PHOTO_SOURCES[name]
    return Img(rel, lambda: png(edit(photo(name))), f"{src}; {note}; upscaled x{scale}", lic)


def _encode(img: Image.Image, fmt: str) -> bytes:
    return jpeg(img, int(fmt[4:])) if fmt.startswith("jpeg") else png(img)


def _images() -> dict[str, tuple[Img, str, str, tuple[str, ...], str, str]]:
    """Every image by id: (file, reference, category, demands of a transcription, degradation, document id)."""
    docs = ocr_docs()
    out: dict = {}
    for did, (category, make, demand) in docs.items():
        img = rendered(f"images/{did}.png", lambda m=make: m()[0], f"{category} document")
        out[did] = (img, make()[1], category, (demand,), "none", did)
    for did, kind, fn, fmt, demand in DEGRADED:
        category, make, base = docs[did]
        sid = f"{did}_{kind}"

        def produce(m=make, f=fn, e=fmt) -> bytes:
            img = m()[0]
            return _encode(f(img) if f else img, e)

        rel = f"images/{sid}.{'jpg' if fmt.startswith('jpeg') else 'png'}"
        out[sid] = (Img(rel, produce, f"{RENDERED}: {category} document, {kind}", RENDERED_LICENCE), make()[1],
                    category, (base, demand), kind, did)  # fmt: skip
    return out


def ocr_suite() -> SuiteSpec:
    images = _images()
    entries: list[Entry] = []
    transcribed = TRANSCRIBED + [f"{did}_{kind}" for did, kind, *_ in DEGRADED if not did.startswith("cover")]
    for sid in transcribed:
        img, reference, category, demands, degradation, did = images[sid]
        body = transcription(READ_ALL, reference, case_sensitive=did in CASE_SENSITIVE)
        entries.append(sample(sid, [img], body, demands, category=category, source="rendered", degradation=degradation))
    for rid, name, box, scale, reference, note in REAL_TEXT:
        img = real_text_img(f"images/{rid}.png", name, box, scale, note)
        body = transcription(READ_ALL, reference, case_sensitive=rid in CASE_SENSITIVE)
        entries.append(
            sample(rid, [img], body, ("real_text",), category="real_text", source="real", degradation="none")
        )
    for image_id, qid, question, answers, demands in FIELDS:
        img, _, category, _, degradation, _ = images[image_id]
        entries.append(sample(f"{image_id}_{qid}", [img], short_answer(question, answers, "anls"), demands,
                              category=category, source="rendered", degradation=degradation))  # fmt: skip
    meta = {"task": "ocr", "version": VERSION,
            "description": "Text reading: rendered documents with exact ground truth (clean and degraded) and "
                           "real scanned/photographed text transcribed by hand; full transcriptions and "
                           "one-field questions."}  # fmt: skip
    intro = """
Labels: a transcription (`type: transcription`) has the exact text in reading order as `reference` (lines joined
by newlines; scoring collapses whitespace and removes markdown, so line breaks, tables drawn with pipes, bold and
bullets never count). Case is ignored unless the sample says `case_sensitive: true` (code); both case-insensitive
and case-sensitive located CER are reported. A field question (`type: short_answer`, `match: anls`) asks for one
part (a book title or author, a receipt total, an order or badge number, a name, an amount, a table cell) and is
scored on the value the answer gives, not on a mention anywhere in it. Rendered documents take their reference
from the very strings the script draws, in DejaVu fonts shipped with matplotlib (serif, sans, mono; bold and
oblique; 16-80 px). Degraded versions (tag `degradation`): rotation (canvas expanded, nothing cropped), Gaussian
blur, Gaussian noise (fixed seeds), JPEG quality 12-15, low contrast, perspective tilt (page padded first); each
was checked by eye to stay legible. Real text (tag `source: real`): crops of scikit-image's scanned `page.png`,
the name tag in matplotlib's `grace_hopper.jpg` and matplotlib's logo, transcribed by hand from the enlarged
images.
"""
    return SuiteSpec(meta, intro, entries)
