// A run page: draw the samples from their JSON (as text nodes only: nothing in them is parsed as
// HTML), then filter them: failures only, and one subset (preselected by a #subset=NAME link).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("samples-data").textContent);
  var list = document.getElementById("samples");
  var failuresOnly = document.getElementById("failures-only");
  var subset = document.getElementById("subset");
  var counter = document.getElementById("shown-count");

  function element(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (className) { node.className = className; }
    return node;
  }
  function row(table, name, value, preformatted) {
    var tr = table.insertRow();
    tr.appendChild(element("th", name));
    var cell = tr.insertCell();
    cell.appendChild(element(preformatted ? "pre" : "code", value === null ? "(none)" : value));
  }
  function details(sample, index) {
    var table = element("table", null, "kv");
    row(table, "target", data.target[index]);
    data.extracted[index].forEach(function (pair) { row(table, "extracted [" + pair[0] + "]", pair[1]); });
    data.scores[index].forEach(function (pair) { row(table, pair[0], pair[1]); });
    var execution = {};
    data.execution[index].forEach(function (pair) { execution[pair[0]] = pair[1]; });
    Object.keys(execution).filter(function (key) { return !/\.reason$/.test(key); }).forEach(function (key) {
      var reason = execution[key + ".reason"];
      row(table, "execution [" + key + "]", reason ? execution[key] + ": " + reason : execution[key], true);
    });
    if (data.error[index]) { row(table, "error", data.error[index], true); }
    sample.appendChild(table);
  }
  function draw(index) {
    var sample = element("li", null, "sample " + (data.failed[index] ? "failed" : "passed"));
    sample.setAttribute("data-failed", data.failed[index] ? "1" : "0");
    sample.setAttribute("data-subset", data.subset[index]);
    var heading = element("h2");
    heading.appendChild(element("code", data.id[index]));
    heading.appendChild(element("span", " " + data.subset[index] + (data.attempt[index] ? ", attempt " + data.attempt[index] : "") + " ", "muted"));
    heading.appendChild(element("span", data.verdict[index], "verdict"));
    sample.appendChild(heading);
    if (data.prompt[index] === null) {
      sample.appendChild(element("p", "prompt and response are not stored in this run (a slim baseline keeps scores only)", "muted"));
    } else {
      var prompt = element("details");
      prompt.appendChild(element("summary", "prompt (" + data.prompt[index].length + " characters)"));
      prompt.appendChild(element("pre", data.prompt[index]));
      sample.appendChild(prompt);
      sample.appendChild(element("div", "response"));
      sample.appendChild(element("pre", data.response[index] || "", "response"));
    }
    details(sample, index);
    return sample;
  }
  function apply() {
    var shown = 0;
    Array.prototype.forEach.call(list.children, function (sample) {
      var hide = (failuresOnly.checked && sample.getAttribute("data-failed") !== "1") ||
                 (subset.value !== "" && sample.getAttribute("data-subset") !== subset.value);
      sample.hidden = hide;
      shown += hide ? 0 : 1;
    });
    counter.textContent = String(shown);
  }

  var fragment = document.createDocumentFragment();
  for (var index = 0; index < data.id.length; index++) { fragment.appendChild(draw(index)); }
  list.appendChild(fragment);
  var match = /^#subset=(.+)$/.exec(window.location.hash);
  if (match) { subset.value = decodeURIComponent(match[1]); }
  failuresOnly.addEventListener("change", apply);
  subset.addEventListener("change", apply);
  apply();
})();
