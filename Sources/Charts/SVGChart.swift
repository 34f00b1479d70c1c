/// A chart of one or two series along a shared x axis, drawn as a standalone SVG document
/// that a browser shows as it is and a person reads at a glance: a title, labelled axes
/// with round-number ticks, a legend, lines or bars. A second series may take its own scale
/// on the right-hand axis (participants and messages per minute, say).
///
/// Values are plotted at their index: the x axis runs from ``xStart`` in steps of ``xStep``
/// (minutes from a party's start, days of a range, points along a video).
public struct SVGChart: Sendable, Hashable {
    /// How a series is drawn.
    public enum Style: Sendable, Hashable {
        /// A line through the values, with the area below it lightly filled.
        case area
        /// A line through the values.
        case line
        /// One bar per value.
        case bars
    }

    /// Which vertical axis a series is scaled to.
    public enum Axis: Sendable, Hashable {
        case left, right
    }

    /// How axis values are written.
    public enum Format: Sendable, Hashable {
        /// A number (1, 2.5, 1.2k).
        case number
        /// A count: ticks at whole numbers only (1, 2, 5, 10, …).
        case count
        /// Minutes written as a clock, `h:mm` (negative before zero).
        case minutes
        /// Seconds written as a clock, `h:mm:ss` or `m:ss`.
        case seconds
        /// A share from 0 to 1, written as a percentage.
        case percent
    }

    /// One series of values.
    public struct Series: Sendable, Hashable {
        /// Its name in the legend.
        public var name: String
        /// One value per x step.
        public var values: [Double]
        public var style: Style
        public var axis: Axis
        /// A CSS colour.
        public var color: String

        /// A series.
        public init(name: String, values: [Double], style: Style, axis: Axis = .left, color: String) {
            self.name = name
            self.values = values
            self.style = style
            self.axis = axis
            self.color = color
        }
    }

    /// The heading drawn above the plot.
    public var title: String
    /// The x axis: its label, its first value, its step per value, and how values are written.
    public var xLabel: String
    public var xStart: Double
    public var xStep: Double
    public var xFormat: Format
    /// The left axis's label and format; the right axis's, when a series uses it.
    public var leftLabel: String
    public var leftFormat: Format
    public var rightLabel: String
    public var rightFormat: Format
    /// At most two series are expected (one per axis); more are drawn but share the axes.
    public var series: [Series]
    /// The drawing's size in pixels.
    public var width: Int = 800
    public var height: Int = 320

    /// A chart; see the properties.
    public init(
        title: String,
        xLabel: String,
        xStart: Double = 0,
        xStep: Double = 1,
        xFormat: Format = .number,
        leftLabel: String,
        leftFormat: Format = .number,
        rightLabel: String = "",
        rightFormat: Format = .number,
        series: [Series]
    ) {
        self.title = title
        self.xLabel = xLabel
        self.xStart = xStart
        self.xStep = xStep
        self.xFormat = xFormat
        self.leftLabel = leftLabel
        self.leftFormat = leftFormat
        self.rightLabel = rightLabel
        self.rightFormat = rightFormat
        self.series = series
    }

    /// The SVG document (UTF-8 text, `image/svg+xml`).
    public func render() -> String {
        let plot = (left: 64.0, top: 56.0, right: Double(width) - 64, bottom: Double(height) - 48)
        let count = series.map(\.values.count).max() ?? 0
        let hasBars = series.contains { $0.style == .bars }
        // Bars sit in slots; lines run from the first slot's middle when bars share the plot.
        let slots = Double(max(count, 1))
        let slotWidth = (plot.right - plot.left) / (hasBars ? slots : max(slots - 1, 1))
        func x(_ index: Int) -> Double { plot.left + (hasBars ? (Double(index) + 0.5) : Double(index)) * slotWidth }
        let leftScale = Scale(maximum: series.filter { $0.axis == .left }.flatMap(\.values).max() ?? 0, format: leftFormat)
        let rightScale = Scale(maximum: series.filter { $0.axis == .right }.flatMap(\.values).max() ?? 0, format: rightFormat)
        func y(_ value: Double, _ axis: Axis) -> Double {
            let scale = axis == .left ? leftScale : rightScale
            return plot.bottom - (plot.bottom - plot.top) * (scale.top > 0 ? min(max(value, 0), scale.top) / scale.top : 0)
        }

        var svg = SVGText()
        svg.open(
            "svg",
            [
                ("xmlns", "http://www.w3.org/2000/svg"), ("width", "\(width)"), ("height", "\(height)"),
                ("viewBox", "0 0 \(width) \(height)"), ("role", "img"), ("aria-label", title),
                ("font-family", "system-ui, sans-serif"), ("font-size", "12"),
            ]
        )
        svg.element("title", [], text: title)
        svg.element("rect", [("width", "\(width)"), ("height", "\(height)"), ("fill", "#ffffff")])
        svg.element("text", [("x", "\(Int(plot.left))"), ("y", "22"), ("font-size", "15"), ("font-weight", "600"), ("fill", "#1f2328")], text: title)

        // Legend, left to right under the title.
        var legendX = plot.left
        for item in series {
            svg.element("rect", [("x", fmt(legendX)), ("y", "32"), ("width", "12"), ("height", "12"), ("fill", item.color)])
            svg.element("text", [("x", fmt(legendX + 16)), ("y", "42"), ("fill", "#1f2328")], text: item.name)
            legendX += 28 + Double(item.name.count) * 7
        }

        // Grid lines and the left axis's ticks.
        for tick in leftScale.ticks {
            let ty = y(tick, .left)
            svg.element("line", [("x1", fmt(plot.left)), ("x2", fmt(plot.right)), ("y1", fmt(ty)), ("y2", fmt(ty)), ("stroke", "#e5e7eb")])
            svg.element(
                "text",
                [("x", fmt(plot.left - 6)), ("y", fmt(ty + 4)), ("text-anchor", "end"), ("fill", "#57606a")],
                text: leftScale.format(tick)
            )
        }
        if series.contains(where: { $0.axis == .right }) {
            for tick in rightScale.ticks {
                let ty = y(tick, .right)
                svg.element("text", [("x", fmt(plot.right + 6)), ("y", fmt(ty + 4)), ("fill", "#57606a")], text: rightScale.format(tick))
            }
            svg.element(
                "text",
                [
                    ("transform", "translate(\(fmt(Double(width) - 14)) \(fmt((plot.top + plot.bottom) / 2))) rotate(90)"), ("text-anchor", "middle"),
                    ("fill", "#57606a"),
                ],
                text: rightLabel
            )
        }
        svg.element(
            "text",
            [("transform", "translate(14 \(fmt((plot.top + plot.bottom) / 2))) rotate(-90)"), ("text-anchor", "middle"), ("fill", "#57606a")],
            text: leftLabel
        )

        // The x axis: a baseline, round ticks, and its label.
        svg.element(
            "line",
            [("x1", fmt(plot.left)), ("x2", fmt(plot.right)), ("y1", fmt(plot.bottom)), ("y2", fmt(plot.bottom)), ("stroke", "#57606a")]
        )
        for index in Self.xTickIndices(count: count, start: xStart, step: xStep, format: xFormat) {
            let tx = x(index)
            svg.element("line", [("x1", fmt(tx)), ("x2", fmt(tx)), ("y1", fmt(plot.bottom)), ("y2", fmt(plot.bottom + 4)), ("stroke", "#57606a")])
            svg.element(
                "text",
                [("x", fmt(tx)), ("y", fmt(plot.bottom + 18)), ("text-anchor", "middle"), ("fill", "#57606a")],
                text: Scale.format(xStart + Double(index) * xStep, xFormat)
            )
        }
        svg.element(
            "text",
            [("x", fmt((plot.left + plot.right) / 2)), ("y", fmt(Double(height) - 8)), ("text-anchor", "middle"), ("fill", "#57606a")],
            text: xLabel
        )

        // The series: bars first, so that lines stay visible over them.
        for item in series where item.style == .bars {
            svg.open("g", [("fill", item.color), ("fill-opacity", "0.7")])
            let barWidth = max(slotWidth * 0.8, 1)
            for (index, value) in item.values.enumerated() where value > 0 {
                let top = y(value, item.axis)
                svg.element(
                    "rect",
                    [("x", fmt(x(index) - barWidth / 2)), ("y", fmt(top)), ("width", fmt(barWidth)), ("height", fmt(plot.bottom - top))]
                )
            }
            svg.close("g")
        }
        for item in series where item.style != .bars && !item.values.isEmpty {
            let points = item.values.enumerated().map { "\(fmt(x($0.offset))),\(fmt(y($0.element, item.axis)))" }
            if item.style == .area {
                let area =
                    "\(fmt(x(0))),\(fmt(plot.bottom)) " + points.joined(separator: " ") + " \(fmt(x(item.values.count - 1))),\(fmt(plot.bottom))"
                svg.element("polygon", [("points", area), ("fill", item.color), ("fill-opacity", "0.15")])
            }
            svg.element(
                "polyline",
                [
                    ("points", points.joined(separator: " ")), ("fill", "none"), ("stroke", item.color), ("stroke-width", "2"),
                    ("stroke-linejoin", "round"),
                ]
            )
            // Few points are marked, so that a single one (a line of no length) shows too.
            if item.values.count <= Self.markedPoints {
                svg.open("g", [("fill", item.color)])
                for (index, value) in item.values.enumerated() {
                    svg.element("circle", [("cx", fmt(x(index))), ("cy", fmt(y(value, item.axis))), ("r", "3")])
                }
                svg.close("g")
            }
        }
        svg.close("svg")
        return svg.text
    }

    /// Lines of at most this many points get a marker at each.
    static let markedPoints = 60

    /// The indices at which the x axis gets a tick: about eight, at round values of the format.
    static func xTickIndices(count: Int, start: Double, step: Double, format: Format) -> [Int] {
        guard count > 0, step > 0 else { return [] }
        let span = Double(count - 1) * step
        let interval = Scale.niceStep(span / 8, format: format)
        var indices: [Int] = []
        for index in 0..<count {
            let value = start + Double(index) * step
            let remainder = value.truncatingRemainder(dividingBy: interval)
            if abs(remainder) < step / 2 || abs(abs(remainder) - interval) < step / 2 { indices.append(index) }
        }
        return indices
    }
}

/// A vertical scale from zero to a round top, with its ticks.
struct Scale: Hashable {
    let top: Double
    let ticks: [Double]
    let formatStyle: SVGChart.Format

    init(maximum: Double, format: SVGChart.Format) {
        formatStyle = format
        let step = Self.niceStep(max(maximum, format == .percent ? 0.2 : 1) / 5, format: format)
        let top = (max(maximum, step) / step).rounded(.up) * step
        self.top = top
        ticks = stride(from: 0, through: top + step / 2, by: step).map { $0 }
    }

    func format(_ value: Double) -> String { Self.format(value, formatStyle) }

    /// The round step at or above `raw`: 1, 2 or 5 times a power of ten, and for clocks
    /// whole minutes, quarter and whole hours.
    static func niceStep(_ raw: Double, format: SVGChart.Format) -> Double {
        guard raw > 0 else { return 1 }
        let clockSteps: [Double]
        switch format {
        case .minutes: clockSteps = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1_440]
        case .seconds: clockSteps = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200]
        case .number, .percent: clockSteps = []
        case .count: clockSteps = raw <= 1 ? [1] : []
        }
        if let step = clockSteps.first(where: { $0 >= raw }) { return step }
        // The power of ten at or below `raw`.
        var power = 1.0
        while power * 10 <= raw { power *= 10 }
        while power > raw { power /= 10 }
        for multiple in [1.0, 2, 5, 10] where multiple * power >= raw { return multiple * power }
        return 10 * power
    }

    static func format(_ value: Double, _ format: SVGChart.Format) -> String {
        switch format {
        case .number, .count:
            if abs(value) >= 1_000_000 { return trimmed(value / 1_000_000) + "M" }
            if abs(value) >= 1_000 { return trimmed(value / 1_000) + "k" }
            return trimmed(value)
        case .percent:
            return trimmed(value * 100) + "%"
        case .minutes:
            let minutes = Int(value.rounded())
            let sign = minutes < 0 ? "-" : ""
            let magnitude = abs(minutes)
            return "\(sign)\(magnitude / 60):\(twoDigits(magnitude % 60))"
        case .seconds:
            let seconds = Int(value.rounded())
            let sign = seconds < 0 ? "-" : ""
            let magnitude = abs(seconds)
            if magnitude >= 3_600 { return "\(sign)\(magnitude / 3_600):\(twoDigits(magnitude / 60 % 60)):\(twoDigits(magnitude % 60))" }
            return "\(sign)\(magnitude / 60):\(twoDigits(magnitude % 60))"
        }
    }

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// At most one decimal, none when whole.
    private static func trimmed(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded))" : "\(rounded)"
    }
}

/// A coordinate written with at most one decimal.
func fmt(_ value: Double) -> String {
    let rounded = (value * 10).rounded() / 10
    return rounded == rounded.rounded() ? "\(Int(rounded))" : "\(rounded)"
}

/// SVG text written element by element, with attribute values and text escaped for XML.
struct SVGText {
    private(set) var text = ""

    mutating func open(_ name: String, _ attributes: [(String, String)]) {
        text += "<\(name)\(Self.attributes(attributes))>"
        if name == "svg" || name == "g" { text += "\n" }
    }

    mutating func close(_ name: String) { text += "</\(name)>\n" }

    mutating func element(_ name: String, _ attributes: [(String, String)], text content: String? = nil) {
        if let content {
            text += "<\(name)\(Self.attributes(attributes))>\(Self.escape(content))</\(name)>\n"
        } else {
            text += "<\(name)\(Self.attributes(attributes))/>\n"
        }
    }

    private static func attributes(_ attributes: [(String, String)]) -> String {
        attributes.map { " \($0.0)=\"\(escape($0.1))\"" }.joined()
    }

    /// `text` with XML's special characters as entities, and characters XML 1.0 forbids dropped.
    static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            case "\t", "\n", "\r": escaped.unicodeScalars.append(scalar)
            default:
                if scalar.value >= 0x20 && scalar.value != 0xFFFE && scalar.value != 0xFFFF { escaped.unicodeScalars.append(scalar) }
            }
        }
        return escaped
    }
}
