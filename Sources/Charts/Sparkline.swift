/// A series drawn as one line of block characters (▁▂▃▄▅▆▇█) for a terminal, scaled from
/// zero to the series' largest value. A series longer than `width` is folded into `width`
/// columns, each showing the largest value it covers, so that peaks survive.
public enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// The sparkline of `values` in at most `width` columns; empty for no values. Negative
    /// values draw as zero.
    public static func render(_ values: [Double], width: Int = 60) -> String {
        guard !values.isEmpty, width > 0 else { return "" }
        let columns = min(width, values.count)
        var folded: [Double] = []
        folded.reserveCapacity(columns)
        for column in 0..<columns {
            let start = column * values.count / columns
            let end = max((column + 1) * values.count / columns, start + 1)
            folded.append(values[start..<end].max() ?? 0)
        }
        let top = folded.max() ?? 0
        return String(
            folded.map { value -> Character in
                guard top > 0, value > 0 else { return blocks[0] }
                let level = Int((value / top * Double(blocks.count - 1)).rounded())
                return blocks[min(max(level, 0), blocks.count - 1)]
            }
        )
    }
}
