import Foundation
import Testing

@testable import Charts

#if canImport(FoundationXML)
import FoundationXML
#endif

@Suite struct SVGChartTests {
    /// Parses `svg` as XML, failing on anything a browser's XML parser would refuse.
    final class Elements: NSObject, XMLParserDelegate {
        var names: [String] = []
        var attributes: [[String: String]] = []
        var text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String]) {
            names.append(name)
            self.attributes.append(attributes)
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        static func parse(_ svg: String) -> Elements? {
            let elements = Elements()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = elements
            return parser.parse() ? elements : nil
        }
    }

    func chart(participants: [Double], messages: [Double], title: String = "Party") -> SVGChart {
        SVGChart(
            title: title,
            xLabel: "time",
            xStart: -2,
            xFormat: .minutes,
            leftLabel: "participants",
            rightLabel: "messages",
            series: [
                .init(name: "messages", values: messages, style: .bars, axis: .right, color: "#f59e0b"),
                .init(name: "participants", values: participants, style: .area, color: "#2563eb"),
            ]
        )
    }

    @Test func drawsEveryPointAndEveryNonZeroBar() throws {
        let svg = chart(participants: [0, 1, 3, 2, 2], messages: [0, 4, 0, 1, 0]).render()
        let elements = try #require(Elements.parse(svg))
        #expect(elements.names.first == "svg")
        let line = try #require(elements.attributes[elements.names.firstIndex(of: "polyline") ?? -1]["points"])
        let points = line.split(separator: " ").map { $0.split(separator: ",").compactMap { Double($0) } }
        #expect(points.count == 5)
        // Higher values are drawn higher (smaller y), equal ones level.
        #expect(points[2][1] < points[1][1] && points[1][1] < points[0][1])
        #expect(points[3][1] == points[4][1])
        // Bars only where there were messages: 2 of them, besides the legend's swatches and the background.
        let bars = elements.attributes.enumerated().filter { elements.names[$0.offset] == "rect" && $0.element["fill"] == nil }
        #expect(bars.count == 2)
        // The x axis starts in the lobby and is written as a clock.
        #expect(elements.text.contains("-0:02"))
    }

    @Test func escapesTextAndDropsWhatXMLForbids() throws {
        let svg = chart(participants: [1], messages: [1], title: "<script>&\"'\u{1}").render()
        let elements = try #require(Elements.parse(svg))
        #expect(elements.text.contains("<script>&\"'"))
        #expect(!svg.contains("<script>"))
    }

    @Test func emptySeriesStillRenderValidSVG() throws {
        let elements = try #require(Elements.parse(chart(participants: [], messages: []).render()))
        #expect(!elements.names.contains("polyline"))
    }

    @Test func scalesEndOnRoundNumbersAboveTheMaximum() {
        let scale = Scale(maximum: 187, format: .number)
        #expect(scale.top >= 187)
        #expect(scale.ticks.first == 0 && scale.ticks.last == scale.top)
        #expect(scale.ticks.count <= 7)
        #expect(Scale.niceStep(37, format: .minutes) == 60)
        #expect(Scale.niceStep(0.13, format: .number) == 0.2)
        #expect(Scale.format(125, .minutes) == "2:05")
        #expect(Scale.format(-5, .minutes) == "-0:05")
        #expect(Scale.format(3_725, .seconds) == "1:02:05")
        #expect(Scale.format(0.25, .percent) == "25%")
        #expect(Scale.format(1_500, .number) == "1.5k")
    }

    @Test func countsTickAtWholeNumbersAndASinglePointShows() throws {
        #expect(Scale(maximum: 1, format: .count).ticks == [0, 1])
        #expect(Scale(maximum: 7, format: .count).ticks.allSatisfy { $0 == $0.rounded() })
        let one = SVGChart(
            title: "one minute",
            xLabel: "t",
            leftLabel: "n",
            leftFormat: .count,
            series: [.init(name: "n", values: [1], style: .area, color: "#000")]
        )
        let elements = try #require(Elements.parse(one.render()))
        #expect(elements.names.filter { $0 == "circle" }.count == 1, "a one-point line is a marker")
        #expect(!elements.text.contains("0.2"))
    }

    @Test func xTicksFallOnRoundValues() {
        // 122 minutes from -1: ticks every 30 minutes (121 / 8 rounded up to a clock step), from 0:00.
        let indices = SVGChart.xTickIndices(count: 122, start: -1, step: 1, format: .minutes)
        #expect(indices.map { $0 - 1 } == [0, 30, 60, 90, 120])
    }
}

@Suite struct SparklineTests {
    @Test func scalesFromZeroToTheLargest() {
        #expect(Sparkline.render([0, 1, 2, 4]) == "▁▃▅█")
        #expect(Sparkline.render([]) == "")
        #expect(Sparkline.render([0, 0]) == "▁▁")
        #expect(Sparkline.render([-3, 2]) == "▁█")
    }

    @Test func foldingKeepsPeaks() {
        var values = [Double](repeating: 1, count: 100)
        values[57] = 9
        let line = Sparkline.render(values, width: 10)
        #expect(line.count == 10)
        #expect(Array(line)[5] == "█")
        #expect(line.filter { $0 == "█" }.count == 1)
    }
}
