// What the board view knows about item types and templates. It mirrors boards/itemtypes.py
// (fields and choices) and says how each template is drawn: which items are columns,
// what can be added to a cell, whether the journey's emotion curve is shown.

export const FIELDS = {
  stage: { title: "text", description: "longtext", emotion: "emotion", status: "choice" },
  lane: { title: "text", kind: "choice" },
  theme: { title: "text", text: "longtext" },
  picture: { picture: "text", title: "text", why: "longtext" },
  card: { text: "longtext", colour: "choice", touchpoint: "choice", critical: "choice", emotion: "emotion", key: "bool" },
  finding: { text: "longtext", key: "bool", colour: "choice" },
  question: { text: "longtext" },
  persona: {
    name: "text", avatar: "emoji", picture: "text", life_situation: "longtext", problems: "longtext",
    goals: "longtext", service_use: "longtext", quote: "longtext", segment: "choice",
  },
  idea: { title: "text", text: "longtext", status: "choice", stage_ref: "ref", finding_ref: "ref", cornerstone: "choice", progress: "choice", progress_reason: "longtext" },
  test: {
    idea_ref: "ref", hypothesis: "longtext", what: "longtext", with_whom: "longtext", measure: "longtext",
    when: "text", status: "choice", learned: "longtext", result: "choice", progress: "choice", progress_reason: "longtext",
  },
  comment: { text: "longtext" },
};

const COLOURS = ["yellow", "blue", "green", "pink", "orange", "purple", "grey"];
const CHOICES = {
  colour: COLOURS,
  touchpoint: ["physical", "digital", "face_to_face", "self_service", "materials"],
  critical: ["information_transfer", "handover", "waiting", "decision", "other"],
  segment: ["S1", "S2", "S3", "S4"],
  cornerstone: ["human_encounter", "earning_trust", "proactive_approach"],
  result: ["adopt", "adapt", "drop"],
  "idea.status": ["idea", "voted", "testing", "adopted", "dropped"],
  "stage.status": ["idea", "voted", "testing", "adopted", "dropped"],
  "test.status": ["planned", "running", "done"],
  progress: ["received", "in_progress", "in_practice", "not_taken_forward"],
};

export function choicesOf(type, field) {
  return CHOICES[`${type}.${field}`] || CHOICES[field] || [];
}

export const EMOTIONS = [2, 1, 0, -1, -2];
const EMOTION_KEYS = { 2: "emotion_very_good", 1: "emotion_good", 0: "emotion_neutral", "-1": "emotion_bad", "-2": "emotion_very_bad" };
export function emotionKey(value) {
  return EMOTION_KEYS[String(value)];
}

export const REQUIRED = { stage: ["title"], lane: ["title"], theme: ["title"], persona: ["name"], idea: ["title"], comment: ["text"] };
export const COLUMN_TYPES = ["stage", "theme", "picture"];
export const STRUCTURAL = new Set(["stage", "lane", "theme", "picture"]);
export const PRIMARY = {
  card: "text", finding: "text", question: "text", persona: "name", idea: "title", test: "hypothesis",
  comment: "text", stage: "title", theme: "title", picture: "title", lane: "title",
};

// The fields of the edit form of each content type, in order. Cards get the field of their lane's
// kind (a touchpoint's kind, a critical point's kind, a feeling's emotion) besides text and colour.
const EDITABLE = {
  card: ["text", "colour", "key"],
  finding: ["text", "key", "colour"],
  question: ["text"],
  idea: ["title", "text", "status", "cornerstone", "progress", "progress_reason"],
  test: ["hypothesis", "what", "with_whom", "measure", "when", "status", "learned", "result", "idea_ref", "progress", "progress_reason"],
  comment: ["text"],
  stage: ["title", "description"],
  theme: ["title", "text"],
  picture: ["title", "picture", "why"],
  lane: ["title"],
};
const LANE_FIELD = { touchpoints: "touchpoint", critical_points: "critical", feelings: "emotion" };

export function editableFields(item, laneKind) {
  const fields = [...(EDITABLE[item.type] || Object.keys(FIELDS[item.type] || {}))];
  if (item.type === "card") {
    const extra = LANE_FIELD[laneKind];
    for (const name of ["touchpoint", "critical", "emotion"]) {
      if (name === extra || item.fields[name] !== undefined) fields.splice(1, 0, name);
    }
  }
  return fields;
}

// Persona cards are edited field by field, in this order.
export const PERSONA_FIELDS = ["life_situation", "problems", "goals", "service_use", "quote"];

const ADDABLE = {
  journey: ["card"], journey_short: ["card"], service_change: ["card"], service_model: ["card"],
  picture_cards: ["card"], findings: ["finding", "question"], ideas: ["idea", "test"], persona: ["persona"], blank: ["card"],
};
export function addableTypes(template) {
  return ADDABLE[template] || ["card"];
}

// Templates whose columns the team makes themselves: a blank board's stages, the themes of a
// findings synthesis, the chosen pictures of a picture-card exercise.
const NEW_COLUMN = { blank: "stage", findings: "theme", picture_cards: "picture" };
export function newColumnType(template) {
  return NEW_COLUMN[template] || null;
}

export const CURVE_TEMPLATES = new Set(["journey", "journey_short"]);

// The fields an add form asks for; the rest are filled in by editing.
const ADD_FIELDS = {
  card: ["text"], finding: ["text"], question: ["text"], persona: ["name"], idea: ["title", "text"], test: ["hypothesis"],
  stage: ["title"], theme: ["title"], picture: ["title", "picture"],
};
export function addFields(type) {
  return ADD_FIELDS[type] || [PRIMARY[type] || "text"];
}

export function primaryText(item) {
  const name = PRIMARY[item.type];
  const value = (name && item.fields[name]) || item.fields.text || item.fields.title || item.fields.name || "";
  return String(value);
}

export function isContent(item) {
  return !STRUCTURAL.has(item.type) && item.type !== "comment";
}

export function byOrder(a, b) {
  // Order keys compare as plain strings (not locale collation); equal keys by id.
  if (a.order !== b.order) return a.order < b.order ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
