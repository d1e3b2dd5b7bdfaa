from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Chart(_message.Message):
    __slots__ = ("chart_type", "chart_data")
    class ChartType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CHART_TYPE_UNSPECIFIED: _ClassVar[Chart.ChartType]
        CHART_TYPE_PIE_CHART: _ClassVar[Chart.ChartType]
        CHART_TYPE_MIXED_CHART: _ClassVar[Chart.ChartType]
    CHART_TYPE_UNSPECIFIED: Chart.ChartType
    CHART_TYPE_PIE_CHART: Chart.ChartType
    CHART_TYPE_MIXED_CHART: Chart.ChartType
    CHART_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHART_DATA_FIELD_NUMBER: _ClassVar[int]
    chart_type: Chart.ChartType
    chart_data: ChartData
    def __init__(self, chart_type: _Optional[_Union[Chart.ChartType, str]] = ..., chart_data: _Optional[_Union[ChartData, _Mapping]] = ...) -> None: ...

class ChartData(_message.Message):
    __slots__ = ("title", "data", "colors", "display_config", "labels", "series")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    COLORS_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_CONFIG_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    title: str
    data: _containers.RepeatedCompositeFieldContainer[ChartPoint]
    colors: _struct_pb2.Struct
    display_config: _struct_pb2.Struct
    labels: _containers.RepeatedScalarFieldContainer[str]
    series: _containers.RepeatedCompositeFieldContainer[ChartSeries]
    def __init__(self, title: _Optional[str] = ..., data: _Optional[_Iterable[_Union[ChartPoint, _Mapping]]] = ..., colors: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., display_config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., labels: _Optional[_Iterable[str]] = ..., series: _Optional[_Iterable[_Union[ChartSeries, _Mapping]]] = ...) -> None: ...

class ChartPoint(_message.Message):
    __slots__ = ("label", "value", "color")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    label: str
    value: int
    color: str
    def __init__(self, label: _Optional[str] = ..., value: _Optional[int] = ..., color: _Optional[str] = ...) -> None: ...

class ChartSeries(_message.Message):
    __slots__ = ("label", "type", "values")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    label: str
    type: str
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, label: _Optional[str] = ..., type: _Optional[str] = ..., values: _Optional[_Iterable[int]] = ...) -> None: ...
