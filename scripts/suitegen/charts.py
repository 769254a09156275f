"""Charts and diagrams drawn with matplotlib (through `render.chart`, the Agg canvas).

Each `*_chart(fig)` draws onto a given Figure; `render.chart` owns the figure, fonts and rasterisation. Labels in
the describe suite follow the data plotted here, so changing data here means changing labels there.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .render import chart

DC_YEARS = ["FY2020", "FY2021", "FY2022", "FY2023", "FY2024"]
DC_REVENUE = [3.2, 4.1, 5.6, 8.9, 14.7]


def dc_revenue_chart(revenue: list[float] = DC_REVENUE) -> Image.Image:
    def draw(fig):
        ax = fig.add_subplot()
        bars = ax.bar(DC_YEARS, revenue, color="#2b6cb0")
        ax.bar_label(bars, labels=[f"${v:.1f}B" for v in revenue], padding=3)
        ax.set_title("Northwind Systems: Data Center Revenue by Fiscal Year")
        ax.set_xlabel("Fiscal year")
        ax.set_ylabel("Revenue (billion USD)")
        ax.set_ylim(0, max(revenue) * 1.18)

    return chart(draw)


def line_temp_chart(fig):
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    temps = [1.5, 1.8, 3.9, 7.2, 11.4, 14.3, 16.0, 15.8, 12.6, 8.9, 4.7, 2.3]
    ax = fig.add_subplot()
    ax.plot(months, temps, marker="o", color="#c53030")
    ax.set_title("Average Monthly Temperature")
    ax.set_ylabel("Temperature (°C)")
    ax.grid(alpha=0.3)


def pie_chart(fig):
    ax = fig.add_subplot()
    ax.pie([35, 25, 20, 12, 8], labels=["Apple", "Banana", "Orange", "Grape", "Other"], autopct="%d%%",
           colors=["#e53e3e", "#ecc94b", "#ed8936", "#805ad5", "#a0aec0"], startangle=90)  # fmt: skip
    ax.set_title("Favourite Fruit (survey of 200 people)")


def scatter_chart(fig):
    rng = np.random.default_rng(7)
    height = rng.normal(170, 9, 60)
    weight = 0.9 * (height - 170) + 70 + rng.normal(0, 6, 60)
    ax = fig.add_subplot()
    ax.scatter(height, weight, color="#2f855a")
    ax.set_title("Height vs Weight of 60 Adults")
    ax.set_xlabel("Height (cm)")
    ax.set_ylabel("Weight (kg)")


def grouped_bar_chart(fig):
    regions = ["North", "South", "East", "West"]
    x = np.arange(4)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, [120, 98, 143, 87], 0.4, label="2023", color="#718096")
    ax.bar(x + 0.2, [160, 125, 170, 99], 0.4, label="2024", color="#dd6b20")
    ax.set_xticks(x, regions)
    ax.set_title("Sales by Region, 2023 vs 2024")
    ax.set_ylabel("Units sold")
    ax.legend()


def hbar_chart(fig):
    langs = ["Python", "JavaScript", "SQL", "Java", "Rust"]
    share = [49, 41, 35, 27, 12]
    ax = fig.add_subplot()
    ax.barh(langs[::-1], share[::-1], color="#6b46c1")
    ax.set_title("Most Used Programming Languages")
    ax.set_xlabel("Share of respondents (%)")


def two_line_chart(fig):
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    ax = fig.add_subplot()
    ax.plot(months, [52, 50, 47, 45, 41, 38], marker="s", label="Desktop", color="#2c5282")
    ax.plot(months, [30, 34, 39, 46, 53, 61], marker="o", label="Mobile", color="#d69e2e")
    ax.set_title("Website Visitors: Desktop vs Mobile")
    ax.set_ylabel("Visitors (thousands)")
    ax.legend()


def histogram_chart(fig):
    scores = np.random.default_rng(11).normal(68, 12, 300).clip(0, 100)
    ax = fig.add_subplot()
    ax.hist(scores, bins=15, color="#319795", edgecolor="white")
    ax.set_title("Distribution of Exam Scores")
    ax.set_xlabel("Score")
    ax.set_ylabel("Number of students")


def venn_chart(fig):
    from matplotlib.patches import Circle

    ax = fig.add_subplot()
    ax.add_patch(Circle((0.38, 0.5), 0.3, color="#3182ce", alpha=0.45))
    ax.add_patch(Circle((0.62, 0.5), 0.3, color="#e53e3e", alpha=0.45))
    ax.text(0.22, 0.5, "Python", ha="center", va="center", fontsize=15)
    ax.text(0.78, 0.5, "Statistics", ha="center", va="center", fontsize=15)
    ax.text(0.5, 0.5, "Data\nScience", ha="center", va="center", fontsize=13, weight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0.1, 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
