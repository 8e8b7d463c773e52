// The Draw page's canvas (a Streamlit component, see canvas.py): freehand strokes with a round
// brush, sent to the server the moment the pen lifts, as the strokes and a PNG of the canvas.

// One pad per mounted canvas: Streamlit calls the default export again with new data on
// every rerun, and the strokes drawn so far must survive those calls.
const pads = new WeakMap();

function paintStroke(context, stroke, color) {
    const [first, ...rest] = stroke.points;
    context.strokeStyle = context.fillStyle = color;
    context.lineWidth = stroke.width;
    context.lineCap = context.lineJoin = "round";
    context.beginPath();
    if (rest.length === 0) {  // a tap: one round dot the brush's size
        context.arc(first[0], first[1], stroke.width / 2, 0, 2 * Math.PI);
        context.fill();
        return;
    }
    context.moveTo(first[0], first[1]);
    for (const [x, y] of rest) context.lineTo(x, y);
    context.stroke();
}

function paintAll(pad) {
    const {canvas, context, data} = pad;
    context.fillStyle = data.backgroundColor;  // opaque, so the PNG's ink is read from its colour
    context.fillRect(0, 0, canvas.width, canvas.height);
    for (const stroke of pad.strokes) paintStroke(context, stroke, data.strokeColor);
}

function send(pad) {
    pad.setStateValue("drawing", {objects: pad.strokes, image: pad.canvas.toDataURL("image/png")});
}

// Canvas pixels, rounded to a tenth so the strokes sent stay short.
function pointOf(canvas, event) {
    const box = canvas.getBoundingClientRect();
    const round = (value) => Math.round(value * 10) / 10;
    return [round((event.clientX - box.left) * canvas.width / box.width),
            round((event.clientY - box.top) * canvas.height / box.height)];
}

function listen(pad) {
    const {canvas, context} = pad;
    // No preventDefault here: it would also cancel the mouse events the page (and its tests) see.
    canvas.addEventListener("pointerdown", (event) => {
        if (event.button !== 0) return;
        canvas.setPointerCapture(event.pointerId);
        pad.current = {width: pad.data.strokeWidth, points: [pointOf(canvas, event)]};
        paintStroke(context, pad.current, pad.data.strokeColor);
    });
    canvas.addEventListener("pointermove", (event) => {
        if (!pad.current) return;
        const points = pad.current.points;
        for (const moved of event.getCoalescedEvents?.() ?? [event]) {
            const previous = points[points.length - 1];
            const point = pointOf(canvas, moved);
            points.push(point);
            // Each new piece on its own, with round ends: the same pixels as the whole stroke redrawn.
            paintStroke(context, {width: pad.current.width, points: [previous, point]}, pad.data.strokeColor);
        }
    });
    const finish = () => {
        if (!pad.current) return;
        pad.strokes.push(pad.current);
        pad.current = null;
        send(pad);
    };
    canvas.addEventListener("pointerup", finish);
    canvas.addEventListener("pointercancel", finish);
}

export default function ({data, parentElement, setStateValue}) {
    let pad = pads.get(parentElement);
    if (!pad) {
        const canvas = parentElement.querySelector("canvas");
        pad = {canvas, context: canvas.getContext("2d"), strokes: [], current: null, start: null};
        pads.set(parentElement, pad);
        listen(pad);
    }
    pad.data = data;
    pad.setStateValue = setStateValue;
    const resized = pad.canvas.width !== data.size || pad.canvas.height !== data.size;
    if (resized) {
        pad.canvas.width = pad.canvas.height = data.size;
        pad.canvas.style.width = pad.canvas.style.height = `${data.size}px`;
    }
    const start = JSON.stringify(data.initialDrawing);
    if (start !== pad.start) {
        // A new start (Undo) replaces the strokes and is sent back to be classified; the first
        // one (a new canvas, or one restored from the session) is already known to the page.
        const firstStart = pad.start === null;
        pad.start = start;
        pad.strokes = structuredClone(data.initialDrawing.objects);
        paintAll(pad);
        if (!firstStart) send(pad);
    } else if (resized) {
        paintAll(pad);
    }
    return () => pads.delete(parentElement);
}
